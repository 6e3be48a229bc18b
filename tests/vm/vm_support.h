#pragma once
#include "common/files.h"
#include "orchestrator/core/cache.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <set>

namespace fb::test {

// A file of the source tree (examples, test scenarios).
inline std::string source(const std::string& rel) { return std::string(FAULTBOX_SOURCE_DIR) + "/" + rel; }

// What a cache subdir ("disks", "roots") holds, by file name.
inline std::set<std::string> cache_entries(const std::string& subdir) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(cache_root() / subdir, ec)) {
    std::string name = e.path().filename().string();
    // <entry>.lock is the flock two faultbox processes meet on; it stays (removing it would race
    // a waiter) and is not an entry.
    if (!name.ends_with(".lock")) out.insert(name);
  }
  return out;
}

// No half-made image may stay in a cache subdir.
inline void require_no_partial_cache_entries(const std::string& subdir) {
  for (auto& name : cache_entries(subdir)) CHECK(name.rfind(".partial-", 0) != 0);
}

// A faultbox subcommand with a private runtime dir, so teardown checks see only this run.
inline Run faultbox_in(const ScratchDir& rt, const std::string& subcommand, std::vector<std::string> args,
                       RunOptions opts = {}) {
  std::vector<std::string> argv = {faultbox_binary(), subcommand};
  argv.insert(argv.end(), args.begin(), args.end());
  opts.env["XDG_RUNTIME_DIR"] = rt.path().string();
  opts.env["XDG_STATE_HOME"] = (rt.path() / "state").string();  // evidence dirs of failed runs
  return run(argv, opts);
}

inline Run faultbox_exec(const ScratchDir& rt, std::vector<std::string> args, RunOptions opts = {}) {
  return faultbox_in(rt, "exec", std::move(args), std::move(opts));
}

// A scenario (relative to the source tree) run by `faultbox run --json`, with its parsed report
// (null when none was written).
struct Report {
  Run run;
  nlohmann::json json;
};

inline Report run_example(const ScratchDir& rt, const std::string& rel) {
  auto json_path = (rt.path() / "report.json").string();
  Report r{faultbox_in(rt, "run", {source(rel), "--json", json_path}), {}};
  auto text = read_file(json_path);
  if (text.ok()) r.json = nlohmann::json::parse(*text);
  return r;
}

// A step or fault of a JSON report by name; the test fails when there is none.
inline const nlohmann::json& named(const nlohmann::json& j, const char* list, const std::string& name) {
  for (auto& e : j[list])
    if (e["name"] == name) return e;
  FAIL("no " << list << " entry " << name);
  static nlohmann::json none;
  return none;
}
inline const nlohmann::json& step(const nlohmann::json& j, const std::string& name) { return named(j, "steps", name); }
inline const nlohmann::json& fault(const nlohmann::json& j, const std::string& name) { return named(j, "faults", name); }

// The evidence dir a run named in its last line of output ("evidence: DIR"), or empty.
inline std::filesystem::path evidence_dir_of(const std::string& out) {
  auto pos = out.rfind("evidence: ");
  if (pos == std::string::npos) return {};
  std::string rest = out.substr(pos + 10);
  if (rest.find('\n') != rest.size() - 1) return {};  // must be the last line
  rest.pop_back();
  return rest;
}

// How the wedged-guest scenario (tests/data/scenarios/vm/guest-wedged.toml) ends on any backend:
// a hang, sysrq pressed on the VM's keyboard, the task dumps in the kept console. Its evidence dir.
inline std::filesystem::path require_wedged_guest_hang(const Run& r) {
  CHECK(r.status.code == 4);
  CHECK_THAT(r.out, Catch::Contains("verdict: hang"));
  CHECK_THAT(r.out, Catch::Contains("pressed on the VM's keyboard"));
  auto ev = evidence_dir_of(r.out);
  REQUIRE(!ev.empty());
  auto console = read_file(ev / "console.log");
  REQUIRE(console.ok());
  CHECK_THAT(*console, Catch::Contains("sysrq: Show State"));
  CHECK_THAT(*console, Catch::Contains("lkdtm_SOFTLOCKUP"));  // the spinning task, from sysrq t
  return ev;
}

// Nothing of a VM may remain: no process mentions the runtime root, and the root is empty.
inline void require_no_leftovers(const ScratchDir& rt) {
  auto root = rt.path() / "faultbox";
  std::vector<pid_t> left;
  for (int i = 0; i < 100; ++i) {  // the janitor and PDEATHSIG act within milliseconds
    left = processes_mentioning(rt.path().string());
    bool empty = !std::filesystem::exists(root) || std::filesystem::is_empty(root);
    if (left.empty() && empty) return;
    usleep(50000);
  }
  CHECK(left.empty());
  std::string entries;
  if (std::filesystem::exists(root))
    for (auto& e : std::filesystem::directory_iterator(root)) entries += e.path().string() + " ";
  INFO("left in runtime root: " << entries);
  CHECK(entries.empty());
}

}  // namespace fb::test
