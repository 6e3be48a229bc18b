#pragma once
// Scenario files (TOML): the model, and a parser that rejects unknown keys, wrong types and
// out-of-range values with file:line:column and the key. docs/scenarios.md documents every key
// of kScenarioSchema; a test checks the two agree.
#include "common/result.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace fb {

// ---- schema: one row per key, the parser and the docs test both read it ----
enum class ValueKind { Int, Bool, String, StringArray, IntArray, Duration, Size, Command };

struct KeySpec {
  const char* key;
  ValueKind kind;
  bool required;
  std::int64_t min;  // for Int (and IntArray elements); ignored otherwise
  std::int64_t max;
  const char* doc;
};

struct SectionSpec {
  std::string name;  // "scenario", "vm", "disk", "step", "expect", "fault.<type>"
  std::vector<KeySpec> keys;
};

const std::vector<SectionSpec>& scenario_schema();
// The key tables of docs/scenarios.md, generated from the schema (`faultbox check --schema`).
std::string schema_markdown();
std::vector<std::string> fault_types();
const char* to_string(ValueKind k);

// ---- model ----
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
  std::string str() const;
};

struct VmSection {
  int memory_mb = 256;
  int cpus = 1;
  std::string accel = "auto";
  std::string kernel;  // empty: the cached faultbox kernel
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::vector<std::string> include;
  std::string cmdline;
  bool panic_on_warn = false;
};

struct ScenarioDisk {
  std::string name;
  std::uint64_t size_bytes = 0;
  std::string format = "raw";
  std::string bus = "virtio-blk";
  SourceLocation where;
};

struct FaultSpec {
  std::string name;
  std::string type;
  std::vector<std::string> steps;  // empty: armed for every step
  nlohmann::json params;           // every other key, validated against the type's schema
  SourceLocation where;
};

struct StepSpec {
  std::string name;
  std::vector<std::string> argv;  // `run` as an array, or ["sh", "-c", run] for a string
  std::optional<int> expect_exit;
  std::vector<std::string> expect_stdout;  // substrings that must appear
  std::vector<std::string> expect_stderr;
  std::chrono::milliseconds timeout{0};  // 0: what is left of [vm] timeout
  bool mark_task = true;
  bool background = false;  // runs alongside the following steps, waited for after the last
  std::vector<std::string> snapshot;  // guest files read before and after the step
  SourceLocation where;
};

struct ExpectSpec {
  std::string kernel = "no-crash";  // no-crash | crash
  std::optional<std::int64_t> injected_min;
  std::vector<std::string> dmesg_contains;
  std::vector<std::string> dmesg_not_contains;
};

struct Scenario {
  std::filesystem::path file;
  std::string name;
  std::string description;
  std::vector<std::string> trace_events;  // SUBSYSTEM:EVENT, streamed while the scenario runs
  VmSection vm;
  std::vector<ScenarioDisk> disks;
  std::vector<FaultSpec> faults;
  std::vector<StepSpec> steps;
  ExpectSpec expect;
};

Result<Scenario> parse_scenario_text(const std::string& text, const std::string& file_name);
Result<Scenario> load_scenario(const std::filesystem::path& path);

// "64M", "1G", "4096" -> bytes; "30s", "500ms", "2m" -> duration.
std::optional<std::uint64_t> parse_size(const std::string& s);
std::optional<std::chrono::milliseconds> parse_duration(const std::string& s);

}  // namespace fb
