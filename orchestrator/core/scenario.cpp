#include "orchestrator/core/scenario.h"

#include "common/files.h"
#include "orchestrator/core/printable.h"
#include "protocol/fault_types.h"
#include "protocol/protocol.h"
#include "protocol/scsi_debug_opts.h"

#include <toml++/toml.h>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

namespace fb {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kNoMax = INT64_MAX;

// Keys every fault has, whatever its type.
std::vector<KeySpec> common_fault_keys() {
  return {
      {"type", ValueKind::String, true, 0, 0, "the fault type (the section's name)"},
      {"name", ValueKind::String, false, 0, 0, "a name for reports and FAULTBOX_FAULT_<NAME>_* (default: the type); unique in the scenario"},
      {"steps", ValueKind::StringArray, false, 0, 0, "steps during which it is armed (default: all)"},
      {"may_not_fire", ValueKind::Bool, false, 0, 0,
       "the run passes even if this fault never fires (default false: a fault that never fired tested nothing, so "
       "the run fails)"},
  };
}

ValueKind value_kind_of(proto::ParamKind k) {
  switch (k) {
    case proto::ParamKind::Int: return ValueKind::Int;
    case proto::ParamKind::Bool: return ValueKind::Bool;
    case proto::ParamKind::String: return ValueKind::String;
    case proto::ParamKind::IntArray: return ValueKind::IntArray;
    case proto::ParamKind::StringArray: return ValueKind::StringArray;
  }
  return ValueKind::String;
}

// A fault type's section, derived from the registry (protocol/fault_types.h): the defaults in
// the docs are the ones the plan fills in.
SectionSpec fault_section(const proto::FaultType& t) {
  SectionSpec s{std::string("fault.") + t.name, common_fault_keys()};
  for (auto& p : t.params) {
    std::string doc = p.doc;
    if (p.default_value)
      doc += p.kind == proto::ParamKind::Bool ? fmt::format(" (default {})", *p.default_value ? "true" : "false")
                                              : fmt::format(" (default {})", *p.default_value);
    s.keys.push_back({p.key, value_kind_of(p.kind), p.required, p.min, p.max, doc});
  }
  return s;
}

std::vector<SectionSpec> build_schema() {
  std::vector<SectionSpec> s;
  s.push_back({"scenario",
               {{"name", ValueKind::String, true, 0, 0, "what the experiment is, one line"},
                {"description", ValueKind::String, false, 0, 0, "longer prose for the report"},
                {"trace_events", ValueKind::StringArray, false, 0, 0,
                 "tracefs events streamed live while the scenario runs, as SUBSYSTEM:EVENT (e.g. "
                 "block:block_rq_error); in the report, the evidence dir and --follow"}}});
  s.push_back({"vm",
               {{"memory", ValueKind::Int, false, 64, 65536, "guest memory in MiB (default 256)"},
                {"cpus", ValueKind::Int, false, 1, 64, "guest CPUs (default 1)"},
                {"accel", ValueKind::String, false, 0, 0, "auto, kvm or tcg (default auto)"},
                {"kernel", ValueKind::String, false, 0, 0, "bzImage path (default: the cached faultbox kernel)"},
                {"timeout", ValueKind::Duration, false, 0, 0, "whole-run limit, e.g. \"10m\" (default 10m)"},
                {"include", ValueKind::StringArray, false, 0, 0, "host binaries to copy into the image"},
                {"cmdline", ValueKind::String, false, 0, 0, "extra kernel command line"},
                {"panic_on_warn", ValueKind::Bool, false, 0, 0,
                 "a kernel WARNING panics the guest, so it ends the run as a kernel-crash (default false)"},
                {"root", ValueKind::String, false, 0, 0,
                 "initramfs (default: the image unpacked into guest RAM) or disk (the same files in an ext4 root "
                 "on a virtio disk of its own, for workloads too big for RAM)"},
                {"root_size", ValueKind::Size, false, 0, 0,
                 "the disk root's size, e.g. \"1G\" (default: its files twice over plus 64M, at least 256M); "
                 "needs root = \"disk\""},
                {"backend", ValueKind::String, false, 0, 0,
                 "qemu (default: one QEMU process of faultbox's own) or libvirt (a transient domain through a libvirt "
                 "daemon); `run --backend` overrides it"},
                {"connect", ValueKind::String, false, 0, 0,
                 "the libvirt daemon's URI, e.g. \"qemu:///system\" (default: libvirt's default URI); needs backend = "
                 "\"libvirt\"; `run --connect` overrides it"}}});
  s.push_back({"disk",
               {{"name", ValueKind::String, true, 0, 0, "how faults and steps refer to it (disk:NAME)"},
                {"size", ValueKind::Size, false, 0, 0, "e.g. \"64M\", \"1G\" (required unless `base` is set)"},
                {"format", ValueKind::String, false, 0, 0, "raw or qcow2: the prepared image's format (default raw)"},
                {"bus", ValueKind::String, false, 0, 0,
                 "virtio-blk (default, /dev/vdX), virtio-scsi (/dev/sdX) or ide (/dev/sdX through libata, at most 4)"},
                {"serial", ValueKind::String, false, 0, 0,
                 "the disk's serial in the guest: letters, digits, '.', '_', '-'; at most 20, 36 on virtio-scsi (default: name)"},
                {"partition_table", ValueKind::String, false, 0, 0, "msdos or gpt (default msdos when `partitions` is set)"},
                {"partitions", ValueKind::StringArray, false, 0, 0,
                 "partition sizes in order, \"24M\" or \"50%\" (of the space the table leaves); msdos: at most 4"},
                {"fs", ValueKind::StringOrStringArray, false, 0, 0,
                 "ext4, xfs (at least 300M), vfat, swap or none: one for the whole disk (or every partition), or one per partition "
                 "(default none)"},
                {"files", ValueKind::StringTable, false, 0, 0,
                 "files copied in when the disk is made: { \"1:/etc/a\" = \"host/path\" } (N: partition N; a "
                 "bare \"/path\" is on the whole-disk fs; host paths are relative to the scenario file)"},
                {"file_contents", ValueKind::StringTable, false, 0, 0,
                 "files written when the disk is made, with inline content: { \"2:/b.txt\" = \"text\" }"},
                {"base", ValueKind::String, false, 0, 0,
                 "an existing image (relative to the scenario file), never modified: the VM writes to a qcow2 "
                 "overlay; excludes size, partitions, fs and files"}}});
  s.push_back({"step",
               {{"name", ValueKind::String, true, 0, 0, "unique within the scenario"},
                {"run", ValueKind::Command, true, 0, 0, "a shell command string, or an argv array"},
                {"expect_exit", ValueKind::Int, false, 0, 255, "required exit status"},
                {"expect_stdout", ValueKind::StringArray, false, 0, 0, "substrings stdout must contain"},
                {"expect_stderr", ValueKind::StringArray, false, 0, 0, "substrings stderr must contain"},
                {"timeout", ValueKind::Duration, false, 0, 0, "kill the step after this long (verdict hang)"},
                {"mark_task", ValueKind::Bool, false, 0, 0,
                 "mark the step for task-filtered faults from its first instruction (default true); false when "
                 "the step marks itself (echo 1 > /proc/self/make-it-fail) right before the call under test, or for "
                 "bpf_override moves itself into its target cgroup (echo $$ > $FAULTBOX_CGROUP/target/cgroup.procs)"},
                {"snapshot", ValueKind::StringArray, false, 0, 0,
                 "guest files read before and after the step (e.g. /proc/swaps, /proc/meminfo, a cgroup's "
                 "memory.stat); the report shows what changed"},
                {"background", ValueKind::Bool, false, 0, 0,
                 "start the step and go on with the next ones while it runs; it is waited for after the last "
                 "step, and its faults stay armed until then (default false)"}}});
  s.push_back({"expect",
               {{"kernel", ValueKind::String, false, 0, 0, "no-crash or crash (default no-crash)"},
                {"injected_min", ValueKind::Int, false, 0, kNoMax, "faults must have fired at least this often"},
                {"dmesg_contains", ValueKind::StringArray, false, 0, 0, "substrings the kernel log must contain"},
                {"dmesg_not_contains", ValueKind::StringArray, false, 0, 0, "substrings it must not contain"}}});
  s.push_back({"expect.disk",
               {{"fsck_clean", ValueKind::Bool, false, 0, 0,
                 "every filesystem on the disk (ext4, xfs, vfat) passes its check after the run (true) or not all do (false)"},
                {"fsck_clean_partitions", ValueKind::IntArray, false, 1, 128,
                 "these partitions' filesystems pass their check after the run (others may not)"},
                {"files", ValueKind::StringTable, false, 0, 0,
                 "\"N:/path\" (or \"/path\") -> its sha256 (hex); \"lost:<sha256>\" (absent or other content: that "
                 "write did not survive); \"absent\"; \"present\"; or \"unchanged\" (as copied in by `files`/`file_contents`)"},
                {"readable_blocks", ValueKind::Bool, false, 0, 0,
                 "every byte of the disk image reads back without an I/O error; unreadable ranges are named "
                 "with their partition (default false)"}}});
  s.push_back({"explore",
               {{"step", ValueKind::String, true, 0, 0,
                 "the step `faultbox explore SCENARIO` fails at each fault site it reaches (the other steps run "
                 "unfaulted around it; `faultbox run` ignores this section)"},
                {"sites", ValueKind::StringArray, false, 0, 0,
                 "site kinds to explore: \"nth\" (each fail-nth site once), \"function\" (each injectable function "
                 "the step calls, with the return values its type allows), \"block\" (each request the step sends to "
                 "each [[disk]] failed once with fail_make_request); default nth and function"},
                {"functions", ValueKind::StringArray, false, 0, 0,
                 "only these injectable functions (default: every one the step reaches)"},
                {"always", ValueKind::Bool, false, 0, 0,
                 "also fail each function on every call, not only once, and every request to each disk (default "
                 "false)"}}});
  for (auto& t : proto::fault_types()) s.push_back(fault_section(t));
  return s;
}

const SectionSpec* find_section(const std::string& name) {
  for (auto& s : scenario_schema())
    if (s.name == name) return &s;
  return nullptr;
}

// The node of key in t, or t itself when the key is absent (for locating an error).
const toml::node& key_or_table(const toml::table& t, const char* key) {
  auto* n = t.get(key);
  return n ? *n : static_cast<const toml::node&>(t);
}

SourceLocation loc(const std::string& file, const toml::node& n) {
  return {file, static_cast<int>(n.source().begin.line), static_cast<int>(n.source().begin.column)};
}

Error err(const SourceLocation& at, const std::string& msg) {
  return make_error(ErrorKind::Usage, "{}: {}", at.str(), msg);
}

// Checks one table against a section's keys and returns its values as JSON.
// skip: keys checked elsewhere (the sub-tables of the top level).
Result<nlohmann::json> check_table(const toml::table& t, const SectionSpec& spec, const std::string& file,
                                   const std::string& what, const std::set<std::string>& skip = {}) {
  nlohmann::json out = nlohmann::json::object();
  for (auto& [k, node] : t) {
    std::string key(k.str());
    if (skip.count(key)) continue;
    auto at = loc(file, node);
    auto ks = std::find_if(spec.keys.begin(), spec.keys.end(), [&](const KeySpec& s) { return key == s.key; });
    if (ks == spec.keys.end()) {
      std::string known;
      for (auto& s : spec.keys) known += std::string(known.empty() ? "" : ", ") + s.key;
      return err(at, fmt::format("unknown key '{}' in {} (known: {})", key, what, known));
    }
    auto type_error = [&](const char* want) { return err(at, fmt::format("key '{}' in {} must be {}", key, what, want)); };
    switch (ks->kind) {
      case ValueKind::Int: {
        auto v = node.value_exact<std::int64_t>();
        if (!v) return type_error("an integer");
        if (*v < ks->min || *v > ks->max)
          return err(at, ks->max == kNoMax ? fmt::format("key '{}' in {} must be >= {}, not {}", key, what, ks->min, *v)
                                           : fmt::format("key '{}' in {} must be in {}..{}, not {}", key, what,
                                                         ks->min, ks->max, *v));
        out[key] = *v;
        break;
      }
      case ValueKind::Bool: {
        auto v = node.value_exact<bool>();
        if (!v) return type_error("true or false");
        out[key] = *v;
        break;
      }
      case ValueKind::String: {
        auto v = node.value_exact<std::string>();
        if (!v) return type_error("a string");
        out[key] = *v;
        break;
      }
      case ValueKind::Size: {
        std::optional<std::uint64_t> bytes;
        if (auto s = node.value_exact<std::string>()) bytes = parse_size(*s);
        else if (auto i = node.value_exact<std::int64_t>(); i && *i > 0) bytes = static_cast<std::uint64_t>(*i);
        if (!bytes || *bytes == 0) return type_error("a size such as \"64M\" or \"1G\"");
        out[key] = *bytes;
        break;
      }
      case ValueKind::Duration: {
        auto s = node.value_exact<std::string>();
        auto d = s ? parse_duration(*s) : std::nullopt;
        if (!d) return type_error("a duration such as \"30s\", \"500ms\" or \"2m\"");
        out[key] = d->count();
        break;
      }
      case ValueKind::StringTable: {
        auto* tbl = node.as_table();
        if (!tbl) return type_error("a table of strings, e.g. { \"1:/a\" = \"b\" }");
        nlohmann::json o = nlohmann::json::object();
        for (auto& [ek, ev] : *tbl) {
          auto v = ev.value_exact<std::string>();
          if (!v) return err(loc(file, ev), fmt::format("key '{}' in {} must hold only strings", key, what));
          o[std::string(ek.str())] = *v;
        }
        out[key] = o;
        break;
      }
      case ValueKind::StringOrStringArray:
      case ValueKind::StringArray:
      case ValueKind::IntArray:
      case ValueKind::Command: {
        if (ks->kind == ValueKind::StringOrStringArray) {
          if (auto s = node.value_exact<std::string>()) {
            out[key] = *s;
            break;
          }
        }
        if (ks->kind == ValueKind::Command) {
          if (auto s = node.value_exact<std::string>()) {
            if (s->empty()) return err(at, fmt::format("key '{}' in {} is empty", key, what));
            out[key] = {"sh", "-c", *s};
            break;
          }
        }
        auto* arr = node.as_array();
        bool ints = ks->kind == ValueKind::IntArray;
        if (!arr) return type_error(ints ? "an array of integers" : "an array of strings");
        nlohmann::json a = nlohmann::json::array();
        for (auto& el : *arr) {
          if (ints) {
            auto v = el.value_exact<std::int64_t>();
            if (!v) return err(loc(file, el), fmt::format("key '{}' in {} must hold only integers", key, what));
            if (*v < ks->min) return err(loc(file, el), fmt::format("key '{}' in {}: {} is below {}", key, what, *v, ks->min));
            a.push_back(*v);
          } else {
            auto v = el.value_exact<std::string>();
            if (!v) return err(loc(file, el), fmt::format("key '{}' in {} must hold only strings", key, what));
            a.push_back(*v);
          }
        }
        if (ks->kind == ValueKind::Command && a.empty()) return err(at, fmt::format("key '{}' in {} is empty", key, what));
        out[key] = a;
        break;
      }
    }
  }
  for (auto& ks : spec.keys) {
    if (ks.required && !out.contains(ks.key)) {
      auto at = loc(file, t);
      return err(at, fmt::format("{} is missing required key '{}'", what, ks.key));
    }
  }
  return out;
}

Status check_choice(const nlohmann::json& j, const char* key, const std::vector<std::string>& choices,
                    const SourceLocation& at, const std::string& what) {
  if (!j.contains(key)) return {};
  std::string v = j[key];
  std::string all;
  for (auto& c : choices) {
    if (v == c) return {};
    all += std::string(all.empty() ? "" : " | ") + c;
  }
  return err(at, fmt::format("key '{}' in {} must be {}, not \"{}\"", key, what, all, v));
}

// Array of tables `[[name]]`; also accepts none. A single `[name]` table is an error (the
// TOML would silently mean one element otherwise, which hides typos like [step]).
Result<std::vector<const toml::table*>> table_array(const toml::table& root, const char* name, const std::string& file) {
  std::vector<const toml::table*> out;
  auto* node = root.get(name);
  if (!node) return out;
  auto* arr = node->as_array();
  if (!arr || !arr->is_array_of_tables())
    return err(loc(file, *node), fmt::format("'{}' must be written as [[{}]] (an array of tables)", name, name));
  for (auto& el : *arr) out.push_back(el.as_table());
  return out;
}

// Letters, digits, '.', '_', '-': safe as a kernel command line word and a QEMU option value.
bool plain_word(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

// Names are printed on terminals and in reports; step and fault names also become parts of file
// names and of FAULTBOX_FAULT_<NAME>_* variable names. Empty when the name is acceptable.
std::string name_problem(const std::string& name, bool path_part) {
  for (std::size_t i = 0; i < name.size(); ++i) {
    auto u = static_cast<unsigned char>(name[i]);
    // TOML strings are valid UTF-8, so a C1 control (U+0080..U+009F) is 0xc2 0x80..0x9f.
    bool c1 = u == 0xc2 && i + 1 < name.size() && static_cast<unsigned char>(name[i + 1]) < 0xa0;
    if (u < 0x20 || u == 0x7f || c1)
      return fmt::format("holds the control character {}: names may hold only printable characters",
                         printable(name.substr(i, c1 ? 2 : 1)));
  }
  if (!path_part) return {};
  if (name.empty()) return "is empty";
  if (name.find('/') != std::string::npos) return "holds '/': it becomes part of file and variable names";
  if (name.find("..") != std::string::npos) return "holds '..': it becomes part of file and variable names";
  return {};
}

Status check_name(const std::string& what, const std::string& name, bool path_part, const SourceLocation& at) {
  if (auto problem = name_problem(name, path_part); !problem.empty())
    return err(at, fmt::format("{} '{}' {}", what, printable(name, 200), problem));
  return {};
}

Status check_disk_location(const ScenarioDisk& d, const std::string& location, const SourceLocation& at) {
  auto parsed = parse_disk_location(location);
  if (!parsed)
    return err(at, fmt::format("'{}' must be \"N:/path\" (partition N) or \"/path\" (the whole-disk filesystem)", location));
  auto [part, path] = *parsed;
  std::string fs;
  if (part == 0) {
    if (!d.partitions.empty())
      return err(at, fmt::format("'{}': disk '{}' has partitions; say which, e.g. \"1:{}\"", location, d.name, path));
    fs = d.fs;
  } else {
    if (part > d.partitions.size())
      return err(at, fmt::format("'{}': disk '{}' has {} partition(s)", location, d.name, d.partitions.size()));
    fs = d.partitions[part - 1].fs;
  }
  if (!fs_holds_files(fs))
    return err(at, fmt::format("'{}': the filesystem there is '{}'; files need ext4, xfs or vfat", location, fs));
  return {};
}

Status check_fs_name(const std::string& fs, const SourceLocation& at) {
  if (fs == "fat" || fs == "msdos") return err(at, fmt::format("unknown fs '{}': did you mean 'vfat'?", fs));
  for (auto* known : kDiskFilesystems)
    if (fs == known) return {};
  return err(at, fmt::format("unknown fs '{}' (ext4, xfs, vfat, swap or none)", fs));
}

Result<ScenarioDisk> parse_disk(const toml::table& t, const nlohmann::json& v, const std::string& file) {
  ScenarioDisk d;
  d.where = loc(file, t);
  d.name = v["name"];
  d.size_bytes = v.value("size", std::uint64_t{0});
  d.format = v.value("format", "raw");
  d.bus = v.value("bus", "virtio-blk");
  d.serial = v.value("serial", d.name);
  FB_TRY(check_choice(v, "format", {"raw", "qcow2"}, loc(file, key_or_table(t, "format")), "[[disk]]"));
  std::vector<std::string> buses;
  for (auto& b : kDiskBuses) buses.push_back(b.name);
  FB_TRY(check_choice(v, "bus", buses, loc(file, key_or_table(t, "bus")), "[[disk]]"));
  FB_TRY(check_choice(v, "partition_table", {"msdos", "gpt"}, loc(file, key_or_table(t, "partition_table")), "[[disk]]"));
  // The name and serial travel on the kernel command line (faultbox.disk=NAME:SERIAL) and the
  // serial in QEMU's option syntax, so neither may hold spaces, ':' or ','.
  if (!plain_word(d.name))
    return err(loc(file, *t.get("name")),
               fmt::format("disk name '{}' may hold only letters, digits, '.', '_' and '-'", printable(d.name, 200)));
  auto serial_at = loc(file, key_or_table(t, v.contains("serial") ? "serial" : "name"));
  if (!plain_word(d.serial))
    return err(serial_at, fmt::format("disk serial '{}' may hold only letters, digits, '.', '_' and '-'", d.serial));
  if (d.serial == proto::kRootDiskSerial)
    return err(serial_at, fmt::format("disk serial '{}' is reserved for the VM's root disk", d.serial));
  const DiskBusSpec& bus = *find_disk_bus(d.bus);
  if (d.serial.size() > bus.max_serial)
    return err(serial_at, fmt::format("disk serial '{}' has {} characters; {} keeps at most {} (QEMU would cut it)",
                                      d.serial, d.serial.size(), bus.name, bus.max_serial));
  fs::path dir = fs::path(file).parent_path();
  if (v.contains("base")) {
    auto at = loc(file, *t.get("base"));
    for (const char* k : {"size", "partitions", "fs", "files", "file_contents", "partition_table"})
      if (v.contains(k))
        return err(at, fmt::format("disk '{}': 'base' is an existing image; '{}' cannot be combined with it", d.name, k));
    d.base = fs::absolute(dir / std::string(v["base"]));
    std::error_code ec;
    if (!fs::is_regular_file(d.base, ec))
      return err(at, fmt::format("disk '{}': base image {} does not exist or is not a file", d.name, d.base.string()));
    return d;
  }
  if (!d.size_bytes) return err(d.where, fmt::format("disk '{}' needs 'size' (or 'base')", d.name));
  if (v.contains("partitions")) {
    auto at = loc(file, *t.get("partitions"));
    d.partition_table = v.value("partition_table", "msdos");
    unsigned percent_total = 0;
    std::uint64_t bytes_total = 0;
    for (auto& p : v["partitions"]) {
      std::string text = p;
      DiskPartitionSpec part;
      if (!text.empty() && text.back() == '%') {
        auto pct = parse_size(text.substr(0, text.size() - 1));
        if (!pct || *pct == 0 || *pct > 100) return err(at, fmt::format("partition size '{}' must be 1% to 100%", text));
        part.percent = static_cast<unsigned>(*pct);
        percent_total += part.percent;
      } else {
        auto b = parse_size(text);
        if (!b || *b < (1 << 20)) return err(at, fmt::format("partition size '{}' must be a size of at least 1M, or a percentage", text));
        part.size_bytes = *b;
        bytes_total += *b;
      }
      d.partitions.push_back(part);
    }
    if (d.partitions.empty()) return err(at, "'partitions' is empty");
    if (d.partition_table == "msdos" && d.partitions.size() > 4)
      return err(at, "an msdos table holds at most 4 primary partitions (use partition_table = \"gpt\")");
    if (percent_total > 100) return err(at, fmt::format("partition percentages add up to {}%", percent_total));
    // 1 MiB for the table at the start, and gpt's backup at the end.
    if (bytes_total + (2 << 20) > d.size_bytes)
      return err(at, fmt::format("partitions need {} bytes but disk '{}' has {}", bytes_total + (2 << 20), d.name, d.size_bytes));
  } else if (v.contains("partition_table")) {
    return err(loc(file, *t.get("partition_table")), "'partition_table' without 'partitions'");
  }
  if (v.contains("fs")) {
    auto at = loc(file, *t.get("fs"));
    if (v["fs"].is_string()) {
      std::string f = v["fs"];
      FB_TRY(check_fs_name(f, at));
      if (d.partitions.empty()) d.fs = f;
      for (auto& p : d.partitions) p.fs = f;
    } else {
      if (v["fs"].size() != d.partitions.size())
        return err(at, fmt::format("'fs' lists {} filesystem(s) for {} partition(s)", v["fs"].size(), d.partitions.size()));
      for (std::size_t i = 0; i < d.partitions.size(); ++i) {
        std::string f = v["fs"][i];
        FB_TRY(check_fs_name(f, at));
        d.partitions[i].fs = f;
      }
    }
    // A share given in percent is checked when the disk is made, when its size is known.
    if (d.partitions.empty() && d.fs == "xfs" && d.size_bytes < kXfsMinBytes)
      return err(at, fmt::format("disk '{}': xfs needs at least 300M (mkfs.xfs refuses less), the disk has {}", d.name,
                                 fmt::format("{}M", d.size_bytes >> 20)));
    for (std::size_t i = 0; i < d.partitions.size(); ++i)
      if (d.partitions[i].fs == "xfs" && d.partitions[i].size_bytes && d.partitions[i].size_bytes < kXfsMinBytes)
        return err(at, fmt::format("disk '{}': xfs on partition {} needs at least 300M (mkfs.xfs refuses less)", d.name, i + 1));
  }
  for (const char* key : {"files", "file_contents"}) {
    if (!v.contains(key)) continue;
    auto* tbl = t.get(key)->as_table();
    for (auto& [location, src] : v[key].items()) {
      auto at = loc(file, *tbl->get(location));
      FB_TRY(check_disk_location(d, location, at));
      auto [part, path] = *parse_disk_location(location);
      DiskFileSpec f{location, part, path, {}, {}};
      if (std::string(key) == "files") {
        f.host_path = fs::absolute(dir / std::string(src));
        std::error_code ec;
        if (!fs::is_regular_file(f.host_path, ec))
          return err(at, fmt::format("'{}': host file {} does not exist or is not a file", location, f.host_path.string()));
      } else {
        f.content = src.get<std::string>();
      }
      // (a structured binding, so captured through a copy: clang 14 cannot capture one)
      const std::string loc_name = location;
      if (std::any_of(d.files.begin(), d.files.end(), [&](const DiskFileSpec& o) { return o.location == loc_name; }))
        return err(at, fmt::format("'{}' is given twice", location));
      d.files.push_back(f);
    }
  }
  return d;
}

}  // namespace

std::optional<std::pair<unsigned, std::string>> parse_disk_location(const std::string& s) {
  unsigned part = 0;
  std::string path = s;
  if (auto colon = s.find(':'); colon != std::string::npos) {
    std::string n = s.substr(0, colon);
    if (n.empty() || n.size() > 3 || !std::all_of(n.begin(), n.end(), [](char c) { return isdigit(static_cast<unsigned char>(c)); }))
      return std::nullopt;
    part = static_cast<unsigned>(std::stoul(n));
    if (part == 0) return std::nullopt;
    path = s.substr(colon + 1);
  }
  if (path.size() < 2 || path[0] != '/' || path.back() == '/' || path.find("/../") != std::string::npos ||
      path.find('\0') != std::string::npos || (path.size() >= 3 && path.compare(path.size() - 3, 3, "/..") == 0))
    return std::nullopt;
  return std::make_pair(part, path);
}

const DiskBusSpec* find_disk_bus(const std::string& name) {
  for (auto& b : kDiskBuses)
    if (name == b.name) return &b;
  return nullptr;
}

// A place without a line (a command-line option, a whole file) is named alone.
std::string SourceLocation::str() const { return line ? fmt::format("{}:{}:{}", file, line, column) : file; }

const char* to_string(ValueKind k) {
  switch (k) {
    case ValueKind::Int: return "integer";
    case ValueKind::Bool: return "boolean";
    case ValueKind::String: return "string";
    case ValueKind::StringArray: return "array of strings";
    case ValueKind::IntArray: return "array of integers";
    case ValueKind::Duration: return "duration";
    case ValueKind::Size: return "size";
    case ValueKind::Command: return "string or array of strings";
    case ValueKind::StringOrStringArray: return "string or array of strings";
    case ValueKind::StringTable: return "table of strings";
  }
  return "?";
}

const std::vector<SectionSpec>& scenario_schema() {
  static const std::vector<SectionSpec> schema = build_schema();
  return schema;
}

std::string schema_markdown() {
  std::string out;
  for (auto& sec : scenario_schema()) {
    std::string title = sec.name == "scenario" ? "top level" : sec.name == "expect.disk" ? "[expect.disk.NAME]"
                        : sec.name.rfind("fault.", 0) == 0
                                                                   ? "[[fault]] type = \"" + sec.name.substr(6) + "\""
                                                                   : sec.name == "vm" || sec.name == "expect" || sec.name == "explore"
                                                                         ? "[" + sec.name + "]"
                                                                         : "[[" + sec.name + "]]";
    out += fmt::format("\n<!-- section: {} -->\n### {}\n\n| key | type | required | range | meaning |\n|---|---|---|---|---|\n",
                       sec.name, title);
    for (auto& k : sec.keys) {
      std::string range;
      if (k.kind == ValueKind::Int || k.kind == ValueKind::IntArray) {
        if (k.max == kNoMax && k.min == INT64_MIN) range = "any";
        else if (k.max == kNoMax) range = fmt::format(">= {}", k.min);
        else range = fmt::format("{}..{}", k.min, k.max);
      }
      out += fmt::format("| `{}` | {} | {} | {} | {} |\n", k.key, to_string(k.kind), k.required ? "yes" : "no", range,
                         k.doc);
    }
  }
  return out;
}

std::vector<std::string> fault_types() {
  std::vector<std::string> out;
  for (auto& s : scenario_schema())
    if (s.name.rfind("fault.", 0) == 0) out.push_back(s.name.substr(6));
  return out;
}

std::optional<std::uint64_t> parse_size(const std::string& s) {
  if (s.empty()) return std::nullopt;
  std::size_t i = 0;
  std::uint64_t v = 0;
  while (i < s.size() && isdigit(static_cast<unsigned char>(s[i]))) {
    if (v > (UINT64_MAX - 9) / 10) return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(s[i++] - '0');
  }
  if (i == 0) return std::nullopt;
  std::string unit = s.substr(i);
  static const std::map<std::string, int> shifts = {{"", 0},   {"K", 10},  {"M", 20},  {"G", 30},
                                                     {"KiB", 10}, {"MiB", 20}, {"GiB", 30}};
  auto it = shifts.find(unit);
  if (it == shifts.end() || (it->second && v > (UINT64_MAX >> it->second))) return std::nullopt;
  return v << it->second;
}

std::optional<std::chrono::milliseconds> parse_duration(const std::string& s) {
  std::size_t i = 0;
  std::int64_t v = 0;
  while (i < s.size() && isdigit(static_cast<unsigned char>(s[i]))) {
    if (v > INT64_MAX / 1000 / 3600 / 10) return std::nullopt;
    v = v * 10 + (s[i++] - '0');
  }
  if (i == 0) return std::nullopt;
  std::string unit = s.substr(i);
  if (unit == "ms") return std::chrono::milliseconds(v);
  if (unit == "s") return std::chrono::milliseconds(v * 1000);
  if (unit == "m") return std::chrono::milliseconds(v * 60000);
  if (unit == "h") return std::chrono::milliseconds(v * 3600000);
  return std::nullopt;
}

Result<Scenario> parse_scenario_text(const std::string& text, const std::string& file) {
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    return err({file, static_cast<int>(e.source().begin.line), static_cast<int>(e.source().begin.column)},
               std::string(e.description()));
  }
  Scenario sc;
  sc.file = file;

  // top level: the scenario section's keys, plus the known sub-tables
  static const std::set<std::string> tables = {"vm", "disk", "fault", "step", "expect", "explore"};
  for (auto& [k, node] : root) {
    std::string key(k.str());
    if (!tables.count(key) && (node.is_table() || node.is_array_of_tables()))
      return err(loc(file, node), fmt::format("unknown section '{}' (known: vm, disk, fault, step, expect, explore)", key));
  }
  auto topv = check_table(root, *find_section("scenario"), file, "the scenario", tables);
  if (!topv) return topv.error();
  sc.name = (*topv)["name"];
  FB_TRY(check_name("scenario name", sc.name, false, loc(file, key_or_table(root, "name"))));
  sc.description = topv->value("description", "");
  if (topv->contains("trace_events")) {
    sc.trace_events = (*topv)["trace_events"].get<std::vector<std::string>>();
    for (auto& e : sc.trace_events)
      if (e.find(':') == std::string::npos || e.find('/') != std::string::npos || e.find(' ') != std::string::npos)
        return err(loc(file, key_or_table(root, "trace_events")),
                   fmt::format("trace_events: '{}' is not SUBSYSTEM:EVENT (e.g. block:block_rq_error)", e));
  }

  if (auto* vmnode = root.get("vm")) {
    auto* vmt = vmnode->as_table();
    if (!vmt) return err(loc(file, *vmnode), "'vm' must be a table: [vm]");
    auto v = check_table(*vmt, *find_section("vm"), file, "[vm]");
    if (!v) return v.error();
    FB_TRY(check_choice(*v, "accel", {"auto", "kvm", "tcg"}, loc(file, key_or_table(*vmt, "accel")), "[vm]"));
    sc.vm.memory_mb = static_cast<int>(v->value("memory", 256));
    sc.vm.cpus = static_cast<int>(v->value("cpus", 1));
    sc.vm.accel = v->value("accel", "auto");
    sc.vm.kernel = v->value("kernel", "");
    sc.vm.cmdline = v->value("cmdline", "");
    sc.vm.panic_on_warn = v->value("panic_on_warn", false);
    if (v->contains("timeout")) sc.vm.timeout = std::chrono::milliseconds((*v)["timeout"].get<std::int64_t>());
    if (v->contains("include")) {
      sc.vm.include = (*v)["include"].get<std::vector<std::string>>();
      sc.vm.include_where = loc(file, *vmt->get("include"));
    }
    if (v->contains("kernel")) sc.vm.kernel_where = loc(file, *vmt->get("kernel"));
    FB_TRY(check_choice(*v, "root", {"initramfs", "disk"}, loc(file, key_or_table(*vmt, "root")), "[vm]"));
    sc.vm.root = v->value("root", "initramfs");
    FB_TRY(check_choice(*v, "backend", {"qemu", "libvirt"}, loc(file, key_or_table(*vmt, "backend")), "[vm]"));
    sc.vm.backend = v->value("backend", "qemu");
    sc.vm.connect = v->value("connect", "");
    if (v->contains("connect") && sc.vm.backend != "libvirt")
      return err(loc(file, *vmt->get("connect")), "key 'connect' in [vm] is for the libvirt backend: add backend = \"libvirt\"");
    if (v->contains("root_size")) {
      sc.vm.root_size_where = loc(file, *vmt->get("root_size"));
      if (sc.vm.root != "disk")
        return err(sc.vm.root_size_where, "key 'root_size' in [vm] is for a disk root: add root = \"disk\"");
      sc.vm.root_size = (*v)["root_size"].get<std::uint64_t>();
    }
  }

  auto disks = table_array(root, "disk", file);
  if (!disks) return disks.error();
  std::set<std::string> disk_names;
  for (auto* t : *disks) {
    auto v = check_table(*t, *find_section("disk"), file, "[[disk]]");
    if (!v) return v.error();
    auto d = parse_disk(*t, *v, file);
    if (!d) return d.error();
    if (!disk_names.insert(d->name).second)
      return err(loc(file, *t->get("name")), fmt::format("disk '{}' is declared twice", d->name));
    if (auto same = std::find_if(sc.disks.begin(), sc.disks.end(),
                                 [&](const ScenarioDisk& o) { return o.serial == d->serial; });
        same != sc.disks.end())
      return err(loc(file, key_or_table(*t, t->contains("serial") ? "serial" : "name")),
                 fmt::format("disk '{}' has the serial '{}' of disk '{}': the guest finds disks by serial", d->name,
                             d->serial, same->name));
    const DiskBusSpec& bus = *find_disk_bus(d->bus);
    if (bus.max_disks &&
        std::count_if(sc.disks.begin(), sc.disks.end(), [&](const ScenarioDisk& o) { return o.bus == d->bus; }) >=
            static_cast<std::ptrdiff_t>(bus.max_disks))
      return err(loc(file, key_or_table(*t, "bus")),
                 fmt::format("disk '{}': at most {} disks fit on bus {}", d->name, bus.max_disks, bus.name));
    sc.disks.push_back(*d);
  }

  auto steps = table_array(root, "step", file);
  if (!steps) return steps.error();
  std::set<std::string> step_names;
  for (auto* t : *steps) {
    auto v = check_table(*t, *find_section("step"), file, "[[step]]");
    if (!v) return v.error();
    StepSpec s;
    s.where = loc(file, *t);
    s.name = (*v)["name"];
    FB_TRY(check_name("step name", s.name, true, loc(file, key_or_table(*t, "name"))));
    s.argv = (*v)["run"].get<std::vector<std::string>>();
    if (v->contains("expect_exit")) s.expect_exit = static_cast<int>((*v)["expect_exit"].get<std::int64_t>());
    if (v->contains("expect_stdout")) s.expect_stdout = (*v)["expect_stdout"].get<std::vector<std::string>>();
    if (v->contains("expect_stderr")) s.expect_stderr = (*v)["expect_stderr"].get<std::vector<std::string>>();
    if (v->contains("timeout")) s.timeout = std::chrono::milliseconds((*v)["timeout"].get<std::int64_t>());
    s.mark_task = v->value("mark_task", true);
    s.background = v->value("background", false);
    if (v->contains("snapshot")) s.snapshot = (*v)["snapshot"].get<std::vector<std::string>>();
    if (!step_names.insert(s.name).second) return err(loc(file, *t->get("name")), fmt::format("step '{}' is declared twice", s.name));
    sc.steps.push_back(s);
  }
  if (sc.steps.empty()) return err({file, 1, 1}, "the scenario has no [[step]]: nothing would run");

  auto faults = table_array(root, "fault", file);
  if (!faults) return faults.error();
  for (auto* t : *faults) {
    auto type_node = t->get("type");
    auto where = loc(file, *t);
    if (!type_node) return err(where, "[[fault]] is missing required key 'type'");
    auto type = type_node->value_exact<std::string>();
    if (!type) return err(loc(file, *type_node), "key 'type' in [[fault]] must be a string");
    const SectionSpec* spec = find_section("fault." + *type);
    if (!spec) {
      std::string all;
      for (auto& f : fault_types()) all += std::string(all.empty() ? "" : ", ") + f;
      return err(loc(file, *type_node), fmt::format("unknown fault type '{}' (known: {})", *type, all));
    }
    auto v = check_table(*t, *spec, file, "[[fault]] of type " + *type);
    if (!v) return v.error();
    FaultSpec f;
    f.where = where;
    f.type = *type;
    f.name = v->value("name", *type);
    FB_TRY(check_name("fault name", f.name, true, loc(file, key_or_table(*t, "name"))));
    if (v->contains("steps")) {
      f.steps = (*v)["steps"].get<std::vector<std::string>>();
      for (auto& s : f.steps)
        if (!step_names.count(s))
          return err(loc(file, *t->get("steps")), fmt::format("fault '{}' names step '{}', which does not exist", f.name, s));
    }
    if (v->contains("target")) {
      std::string target = (*v)["target"];
      auto tl = loc(file, *t->get("target"));
      if (target.rfind("disk:", 0) != 0)
        return err(tl, fmt::format("target '{}' must be \"disk:NAME\" or \"disk:NAME/PARTITION\"", target));
      std::string dn = target.substr(5, target.find('/') == std::string::npos ? std::string::npos : target.find('/') - 5);
      if (!disk_names.count(dn)) return err(tl, fmt::format("target '{}' names disk '{}', which is not declared", target, dn));
      // A disk with declared partitions has only those; a blank one may be partitioned by a step,
      // and a base image's table is unknown here.
      if (auto slash = target.find('/'); slash != std::string::npos) {
        std::string n = target.substr(slash + 1);
        auto& disk = *std::find_if(sc.disks.begin(), sc.disks.end(), [&](const ScenarioDisk& d) { return d.name == dn; });
        bool number = !n.empty() && n.size() <= 3 && std::all_of(n.begin(), n.end(), [](char c) { return isdigit(static_cast<unsigned char>(c)); });
        if (!number || std::stoul(n) == 0)
          return err(tl, fmt::format("target '{}': the partition must be a number from 1", target));
        if (!disk.partitions.empty() && std::stoul(n) > disk.partitions.size())
          return err(tl, fmt::format("target '{}': disk '{}' has {} partition(s)", target, dn, disk.partitions.size()));
      }
    }
    if (f.type == "scsi_debug" && v->contains("opts"))
      for (auto& opt : (*v)["opts"]) {
        bool known = false;
        std::string all;
        for (auto& o : proto::kScsiDebugOpts) {
          known |= opt == o.name;
          all += std::string(all.empty() ? "" : ", ") + o.name;
        }
        if (!known)
          return err(loc(file, *t->get("opts")),
                     fmt::format("unknown scsi_debug opt '{}' (known: {})", opt.get<std::string>(), all));
      }
    if (f.type == "fail_nth" && !v->contains("nth") && !v->value("sweep", false))
      return err(where, "a fail_nth fault needs 'nth' or 'sweep = true'");
    // One report entry, one FAULTBOX_FAULT_<NAME>_* set and one ledger row per name.
    if (auto same = std::find_if(sc.faults.begin(), sc.faults.end(), [&](const FaultSpec& o) { return o.name == f.name; });
        same != sc.faults.end())
      return err(loc(file, key_or_table(*t, "name")),
                 fmt::format("fault name '{}' is already used by the fault at {}: give each fault its own `name`", f.name,
                             same->where.str()));
    f.may_not_fire = v->value("may_not_fire", false);
    for (const char* k : {"type", "name", "steps", "may_not_fire"}) v->erase(k);
    f.params = *v;
    sc.faults.push_back(f);
  }

  if (auto* en = root.get("expect")) {
    auto* et = en->as_table();
    if (!et) return err(loc(file, *en), "'expect' must be a table: [expect]");
    auto v = check_table(*et, *find_section("expect"), file, "[expect]", {"disk"});
    if (!v) return v.error();
    FB_TRY(check_choice(*v, "kernel", {"no-crash", "crash"}, loc(file, key_or_table(*et, "kernel")), "[expect]"));
    sc.expect.kernel = v->value("kernel", "no-crash");
    if (v->contains("injected_min")) sc.expect.injected_min = (*v)["injected_min"].get<std::int64_t>();
    if (v->contains("dmesg_contains")) sc.expect.dmesg_contains = (*v)["dmesg_contains"].get<std::vector<std::string>>();
    if (v->contains("dmesg_not_contains"))
      sc.expect.dmesg_not_contains = (*v)["dmesg_not_contains"].get<std::vector<std::string>>();
    if (auto* dn = et->get("disk")) {
      auto* dt = dn->as_table();
      if (!dt) return err(loc(file, *dn), "'disk' in [expect] must be tables: [expect.disk.NAME]");
      for (auto& [k, node] : *dt) {
        std::string name(k.str());
        auto at = loc(file, node);
        auto* one = node.as_table();
        if (!one) return err(at, fmt::format("[expect.disk.{}] must be a table", name));
        auto disk = std::find_if(sc.disks.begin(), sc.disks.end(), [&](const ScenarioDisk& d) { return d.name == name; });
        if (disk == sc.disks.end())
          return err(at, fmt::format("[expect.disk.{}] names disk '{}', which is not declared", name, name));
        auto ev = check_table(*one, *find_section("expect.disk"), file, "[expect.disk." + name + "]");
        if (!ev) return ev.error();
        DiskExpect de;
        de.disk = name;
        de.where = at;
        if (ev->contains("fsck_clean")) de.fsck_clean = (*ev)["fsck_clean"].get<bool>();
        de.readable_blocks = ev->value("readable_blocks", false);
        if (ev->contains("fsck_clean_partitions")) {
          for (auto& n : (*ev)["fsck_clean_partitions"]) {
            unsigned p = n.get<unsigned>();
            if (p == 0 || p > disk->partitions.size() || !fs_holds_files(disk->partitions[p - 1].fs))
              return err(loc(file, *one->get("fsck_clean_partitions")),
                         fmt::format("fsck_clean_partitions: disk '{}' has no partition {} with a filesystem to check", name, p));
            de.fsck_clean_partitions.push_back(p);
          }
        }
        if (ev->contains("files")) {
          for (auto& [location, want] : (*ev)["files"].items()) {
            auto fat = loc(file, *one->get("files")->as_table()->get(location));
            FB_TRY(check_disk_location(*disk, location, fat));
            std::string w = want;
            auto is_sha = [](const std::string& x) {
              return x.size() == 64 && std::all_of(x.begin(), x.end(), [](char c) { return isxdigit(static_cast<unsigned char>(c)); });
            };
            bool lost = w.rfind("lost:", 0) == 0 && is_sha(w.substr(5));
            if (!is_sha(w) && !lost && w != "absent" && w != "present" && w != "unchanged")
              return err(fat, fmt::format("'{}' must be a sha256 (64 hex digits), \"lost:<sha256>\", \"absent\", \"present\" "
                                          "or \"unchanged\", not \"{}\"",
                                          location, w));
            const std::string loc_name = location;  // clang 14 cannot capture a structured binding
            if (w == "unchanged" && std::none_of(disk->files.begin(), disk->files.end(),
                                                 [&](const DiskFileSpec& f) { return f.location == loc_name; }))
              return err(fat, fmt::format("'{}' is expected \"unchanged\" but disk '{}' copies no file there", location, name));
            de.files.emplace_back(location, w);
          }
        }
        sc.expect.disks.push_back(de);
      }
    }
    if (sc.expect.injected_min && sc.faults.empty())
      return err(loc(file, *et->get("injected_min")), "'injected_min' is set but the scenario has no [[fault]]");
  }
  if (auto* xn = root.get("explore")) {
    auto* xt = xn->as_table();
    if (!xt) return err(loc(file, *xn), "'explore' must be a table: [explore]");
    auto v = check_table(*xt, *find_section("explore"), file, "[explore]");
    if (!v) return v.error();
    ExploreSection x;
    x.where = loc(file, *xn);
    x.step = (*v)["step"];
    if (std::none_of(sc.steps.begin(), sc.steps.end(), [&](const StepSpec& st) { return st.name == x.step; }))
      return err(loc(file, key_or_table(*xt, "step")), fmt::format("[explore] step '{}' is not a [[step]] of the scenario", x.step));
    if (v->contains("sites")) {
      x.sites = (*v)["sites"].get<std::vector<std::string>>();
      for (auto& k : x.sites)
        if (k != "nth" && k != "function" && k != "block")
          return err(loc(file, key_or_table(*xt, "sites")),
                     fmt::format("[explore] sites: '{}' is not nth, function or block", k));
        else if (k == "block" && sc.disks.empty())
          return err(loc(file, key_or_table(*xt, "sites")),
                     "[explore] sites: 'block' needs a [[disk]]: block sites are the requests the step sends to a disk");
    }
    if (v->contains("functions")) x.functions = (*v)["functions"].get<std::vector<std::string>>();
    x.always = v->value("always", false);
    sc.explore = x;
  }
  return sc;
}

Result<Scenario> load_scenario(const fs::path& path) {
  auto text = read_regular_file(path, kMaxScenarioBytes, "a scenario file");
  if (!text) return text.error();
  return parse_scenario_text(*text, path.string());
}

}  // namespace fb
