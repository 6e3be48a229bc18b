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
enum class ValueKind { Int, Bool, String, StringArray, IntArray, Duration, Size, Command, StringOrStringArray, StringTable };

struct KeySpec {
  const char* key;
  ValueKind kind;
  bool required;
  std::int64_t min;  // for Int (and IntArray elements); ignored otherwise
  std::int64_t max;
  std::string doc;
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
  std::string root = "initramfs";  // initramfs | disk
  std::uint64_t root_size = 0;     // disk root's size; 0: its content plus headroom
  SourceLocation root_size_where;
  std::string backend = "qemu";  // qemu | libvirt
  std::string connect;           // libvirt's URI; empty: libvirt's default
  SourceLocation kernel_where, include_where;  // of those keys, when given
};

// Filesystems a scenario disk may get: what libguestfs can make and the faultbox kernel mounts.
inline constexpr const char* kDiskFilesystems[] = {"ext4", "xfs", "vfat", "swap", "none"};
// The ones that hold files (and that the inspection checks).
inline bool fs_holds_files(const std::string& fs) { return fs == "ext4" || fs == "xfs" || fs == "vfat"; }
// mkfs.xfs refuses a smaller filesystem.
inline constexpr std::uint64_t kXfsMinBytes = 300ull << 20;

// The buses a scenario disk can be attached to, and what each allows.
struct DiskBusSpec {
  const char* name;
  unsigned max_serial;  // longer serials are cut by QEMU without a word, so they are refused
  unsigned max_disks;   // 0: no limit
};
inline constexpr DiskBusSpec kDiskBuses[] = {
    {"virtio-blk", 20, 0},   // VIRTIO_BLK_ID_BYTES
    {"virtio-scsi", 36, 0},  // QEMU's scsi-hd cuts VPD page 0x80 at 36 bytes (MAX_SERIAL_LEN)
    {"ide", 20, 4},          // ATA IDENTIFY words 10-19; the pc machine's two channels, master and slave
};
// nullptr for a name not in kDiskBuses.
const DiskBusSpec* find_disk_bus(const std::string& name);

struct DiskPartitionSpec {
  std::uint64_t size_bytes = 0;  // an absolute size, or
  unsigned percent = 0;          // a share of the space the partition table leaves
  std::string fs = "none";       // one of kDiskFilesystems
};

// A file put on the disk when it is made: "N:/path" (partition N) or "/path" (whole-disk fs).
struct DiskFileSpec {
  std::string location;  // as written in the scenario
  unsigned partition = 0;  // 0: the whole disk
  std::string guest_path;
  std::filesystem::path host_path;       // resolved against the scenario's folder, or
  std::optional<std::string> content;    // inline content
};

struct ScenarioDisk {
  std::string name;
  std::uint64_t size_bytes = 0;  // 0 only with base (the base image's size)
  std::string format = "raw";
  std::string bus = "virtio-blk";
  std::string serial;            // default: name
  std::string partition_table;   // "" (none), msdos, gpt
  std::vector<DiskPartitionSpec> partitions;
  std::string fs = "none";       // the whole disk's fs when there are no partitions
  std::vector<DiskFileSpec> files;
  std::filesystem::path base;    // an existing image, never modified: the VM writes to an overlay
  SourceLocation where;
  // Whether the disk needs libguestfs to be made (a blank one does not).
  bool populated() const { return !partitions.empty() || fs != "none" || !files.empty(); }
};

// [expect.disk.NAME]: checked read-only on the run's overlay after the VM is gone.
struct DiskExpect {
  std::string disk;
  std::optional<bool> fsck_clean;               // every filesystem on the disk that holds files
  std::vector<unsigned> fsck_clean_partitions;  // these partitions' filesystems
  // location ("N:/path" or "/path") -> a sha256 (hex), "absent", "present" or "unchanged"
  std::vector<std::pair<std::string, std::string>> files;
  bool readable_blocks = false;  // every byte of the disk reads back without an I/O error
  SourceLocation where;
};

struct FaultSpec {
  std::string name;
  std::string type;
  std::vector<std::string> steps;  // empty: armed for every step
  nlohmann::json params;           // every other key, validated against the type's schema
  bool may_not_fire = false;       // the run may pass although it never fired
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
  std::vector<DiskExpect> disks;
};

// [explore]: what `faultbox explore SCENARIO` fails (docs/explore.md); `run` ignores it.
struct ExploreSection {
  std::string step;                    // the step whose fault sites are explored
  std::vector<std::string> sites;      // "nth", "function", "block"; empty: nth and function
  std::vector<std::string> functions;  // only these injectable functions; empty: every one reached
  bool always = false;                 // also fail each function on every call (and each disk's every request)
  SourceLocation where;
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
  std::optional<ExploreSection> explore;
};

Result<Scenario> parse_scenario_text(const std::string& text, const std::string& file_name);
// A scenario file is TOML a person wrote: anything bigger is not one (and a path to /dev/zero or a
// FIFO must not be read until memory or patience runs out).
inline constexpr std::size_t kMaxScenarioBytes = 1 << 20;

// Reads and parses a scenario file. Only a regular file (symlinks followed) of at most
// kMaxScenarioBytes is read; anything else is a Usage error naming the file.
Result<Scenario> load_scenario(const std::filesystem::path& path);

// "N:/path" or "/path" -> (partition, path); nullopt when malformed.
std::optional<std::pair<unsigned, std::string>> parse_disk_location(const std::string& s);

// "64M", "1G", "4096" -> bytes; "30s", "500ms", "2m" -> duration.
std::optional<std::uint64_t> parse_size(const std::string& s);
std::optional<std::chrono::milliseconds> parse_duration(const std::string& s);

}  // namespace fb
