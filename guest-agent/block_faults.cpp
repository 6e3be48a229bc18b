#include "guest-agent/block_faults.h"

#include "guest-agent/agent.h"
#include "guest-agent/block_fault_params.h"
#include "guest-agent/dm_ioctl.h"
#include "guest-agent/sysfs_text.h"
#include "protocol/protocol.h"
#include "protocol/scsi_debug_opts.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <algorithm>
#include <fstream>
#include <set>
#include <string_view>
#include <sstream>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <vector>

namespace fb::agent {

using nlohmann::json;

namespace {

std::string g_tracefs = "/sys/kernel/tracing";
std::string g_configfs = "/sys/kernel/config";

// Under TCG a device node or a SCSI scan can take a while to appear. One budget per arm, all
// waits together: the agent serves nothing else meanwhile (the host's watchdog is 30 s).
constexpr int kWaitDeviceMs = 10000;

// What is left of a budget that started at `start_ns` (monotonic), never negative.
int ms_left(std::uint64_t start_ns) {
  std::uint64_t spent = (monotonic_ns() - start_ns) / 1000000;
  return spent >= static_cast<std::uint64_t>(kWaitDeviceMs) ? 0 : kWaitDeviceMs - static_cast<int>(spent);
}

bool exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}


// The kernel's own dev_t layout (MINORBITS 20), which tracepoint "dev" fields hold.
unsigned long kernel_dev(unsigned major_no, unsigned minor_no) {
  return (static_cast<unsigned long>(major_no) << 20) | minor_no;
}

// "/sys/block/X" -> kernel dev_t from its "dev" file ("M:m"), 0 when unreadable.
unsigned long sysfs_kernel_dev(const std::string& sysdir) {
  unsigned ma = 0, mi = 0;
  if (sscanf(read_text(sysdir + "/dev").c_str(), "%u:%u", &ma, &mi) != 2) return 0;
  return kernel_dev(ma, mi);
}

bool wait_for(const std::string& path, int ms) {
  for (int waited = 0; waited < ms; waited += 20) {
    if (exists(path)) return true;
    usleep(20000);
  }
  return exists(path);
}

// Counts one kernel event, filtered, in a private tracefs instance, so concurrent faults and
// the user's own tracing never mix. The count is exact: the ring buffer's "entries" plus its
// "overrun" (events later ones overwrote). The first records stay as evidence for the report.
class TraceCounter {
 public:
  TraceCounter() = default;
  TraceCounter(const TraceCounter&) = delete;
  TraceCounter& operator=(const TraceCounter&) = delete;
  ~TraceCounter() { remove(); }

  // event: "block/block_bio_complete"; kprobe: a kprobe_events line defining it first, e.g.
  // "r:faultbox/fb_x flakey_map ret=$retval" for event "faultbox/fb_x".
  Status start(const std::string& instance, const std::string& event, const std::string& filter,
               const std::string& kprobe) {
    if (!exists(g_tracefs + "/instances"))
      return Error{ErrorKind::Infra, "no " + g_tracefs + "/instances (tracefs not mounted?)"};
    if (!kprobe.empty()) {
      // O_APPEND: opening kprobe_events without it would delete every probe.
      FB_TRY(write_text(g_tracefs + "/kprobe_events", kprobe + "\n", O_WRONLY | O_APPEND));
      kprobe_ = event;
    }
    event_ = event;
    if (auto s = make_instance(instance, filter, false, dir_); !s) {
      remove();
      return s;
    }
    // Where the kernel was when it failed the I/O: a second instance records a stack after each
    // event, keeping the first ones (its own count is not exact: stacks are entries too). Without
    // it the report only lacks stacks.
    (void)make_instance(instance + "_stk", filter, true, stack_dir_);
    return {};
  }

  // Freezes the buffers and reads the count, the first `keep` records and their stacks; idempotent.
  void stop(std::size_t keep = 8) {
    if (dir_.empty() || stopped_) return;
    stopped_ = true;
    (void)write_text(dir_ + "/tracing_on", "0");
    if (!stack_dir_.empty()) (void)write_text(stack_dir_ + "/tracing_on", "0");
    count_ = 0;
    for (auto& cpu : dir_entries(dir_ + "/per_cpu")) {
      std::int64_t n = ring_buffer_recorded(read_text(dir_ + "/per_cpu/" + cpu + "/stats"));
      if (n > 0) count_ += n;
    }
    std::ifstream trace(dir_ + "/trace");
    std::string line;
    while (records_.size() < keep && std::getline(trace, line)) {
      if (line.empty() || line[0] == '#') continue;
      auto start = line.find_first_not_of(' ');
      records_.push_back(line.substr(start == std::string::npos ? 0 : start));
    }
    if (!stack_dir_.empty()) stacks_ = trace_stack_signatures(read_text(stack_dir_ + "/trace"), 4);
  }

  void remove() {
    for (std::string* dir : {&dir_, &stack_dir_}) {
      if (dir->empty()) continue;
      (void)write_text(*dir + "/events/" + event_ + "/enable", "0");
      rmdir(dir->c_str());
      dir->clear();
    }
    if (!kprobe_.empty()) {
      (void)write_text(g_tracefs + "/kprobe_events", "-:" + kprobe_ + "\n", O_WRONLY | O_APPEND);
      kprobe_.clear();
    }
  }

  const std::vector<std::string>& stacks() const { return stacks_; }
  std::int64_t count() const { return count_; }
  const std::vector<std::string>& records() const { return records_; }

 private:
  // Instance `name` recording event_ through `filter`; with stacks, a kernel stack after each
  // record and, once its small buffer is full, new records dropped rather than old ones. `dir`
  // is set as soon as the instance exists, so remove() takes it away after a later failure.
  Status make_instance(const std::string& name, const std::string& filter, bool stacks, std::string& dir) {
    std::string path = g_tracefs + "/instances/" + name;
    if (exists(path)) rmdir(path.c_str());  // left by an agent that died: its events are stale
    if (mkdir(path.c_str(), 0755) != 0) return Error{ErrorKind::Infra, "mkdir " + path + ": " + strerror(errno)};
    dir = path;
    std::string ev = path + "/events/" + event_;
    if (!exists(ev)) return Error{ErrorKind::Infra, "this kernel has no trace event " + event_};
    if (stacks) {
      FB_TRY(write_text(path + "/buffer_size_kb", "64"));
      FB_TRY(write_text(path + "/options/overwrite", "0"));
      FB_TRY(write_text(path + "/options/stacktrace", "1"));
    }
    if (!filter.empty()) FB_TRY(write_text(ev + "/filter", filter));
    return write_text(ev + "/enable", "1");
  }

  std::string dir_, stack_dir_, event_, kprobe_;
  std::vector<std::string> stacks_;
  bool stopped_ = false;
  std::int64_t count_ = 0;
  std::vector<std::string> records_;
};

// The distinct stacks the counters recorded, for the report's "stacks".
json stacks_of(std::initializer_list<const TraceCounter*> counters) {
  std::vector<std::string> all;
  for (auto* c : counters)
    for (auto& s : c->stacks())
      if (std::find(all.begin(), all.end(), s) == all.end()) all.push_back(s);
  return all;
}

// Common to the four: the device the fault created, the counters computed at disarm.
class BlockFault : public Fault {
 public:
  bool needs_task_mark() const override { return false; }
  json info() const override { return device_.empty() ? json::object() : json{{"device", device_}}; }
  json counters() override { return counters_; }

 protected:
  std::string device_;
  json counters_ = {{"fired", 0}};
};

std::string param_string(const json& p, const char* key) { return p.value(key, std::string()); }

// The device node and size of "disk:NAME[/N]".
struct TargetDisk {
  std::string node;      // /dev/vdb
  std::uint64_t sectors = 0;
};

AgentResult<TargetDisk> resolve_target(const json& p) {
  auto sysdir = with_code(proto::errc::kBadTarget, resolve_disk_target(param_string(p, "target")));
  if (!sysdir) return sysdir.error();
  TargetDisk out;
  out.node = "/dev/" + sysdir->substr(sysdir->rfind('/') + 1);
  out.sectors = std::strtoull(read_text(*sysdir + "/size").c_str(), nullptr, 10);
  if (out.sectors == 0 || !exists(out.node))
    return AgentError{proto::errc::kBadTarget,
                      "target " + param_string(p, "target") + " (" + out.node + ") has no usable size or node"};
  return out;
}

// A dm device over a scenario disk: created, loaded, resumed at arm; removed at disarm.
class DmFault : public BlockFault {
 public:
  ~DmFault() override { remove_device(); }

 protected:
  AgentStatus create(const std::string& name, const DmTarget& target) {
    auto control = with_code(proto::errc::kNotAvailable, DmControl::open());
    if (!control) return control.error();
    dm_ = std::move(*control);
    auto dev = with_code(proto::errc::kArmFailed, dm_.create(name));
    if (!dev) return dev.error();
    name_ = name;
    auto loaded = dm_.load_table(name, {target});
    if (loaded) loaded = dm_.resume(name);
    if (!loaded) {
      remove_device();
      return AgentError{proto::errc::kArmFailed, loaded.error().message};
    }
    dev_ = kernel_dev(major(*dev), minor(*dev));
    device_ = "/dev/dm-" + std::to_string(minor(*dev));
    if (!wait_for(device_, kWaitDeviceMs)) {
      remove_device();
      return AgentError{proto::errc::kArmFailed, device_ + " did not appear (devtmpfs?)"};
    }
    return {};
  }

  // The target's reply to a message sent while arming.
  AgentResult<std::string> message(const std::string& text) {
    auto reply = dm_.message(name_, text);
    if (!reply) return AgentError{proto::errc::kArmFailed, reply.error().message + " (the kernel log says why)"};
    return std::move(*reply);
  }

  // Removes the device; retried briefly because a step's last opener may still be closing. A
  // device a step left open (a mount, a background reader) is removed when it is closed.
  bool remove_device() {
    if (name_.empty()) return true;
    Status removed;
    auto busy = [&] { return !removed && removed.error().message.find(strerror(EBUSY)) != std::string::npos; };
    for (int i = 0; i < 100; ++i) {
      removed = dm_.remove(name_, false);
      if (removed) {
        name_.clear();
        return true;
      }
      if (!busy()) break;
      usleep(20000);
    }
    if (busy()) {
      removed = dm_.remove(name_, true);
      if (removed) {
        counters_["teardown"] = "deferred: " + device_ + " was still open after the step; removed when closed";
        name_.clear();
        return true;
      }
    }
    counters_["teardown_error"] = removed.error().message;
    return false;
  }

  DmControl dm_;
  std::string name_;
  unsigned long dev_ = 0;
};

class DmDustFault : public DmFault {
 public:
  AgentStatus arm(const std::string& name, const json& p) {
    auto disk = resolve_target(p);
    if (!disk) return disk.error();
    std::uint64_t block = p.value("block_size", 512ULL);
    if (block < 512 || (block & (block - 1)) != 0)
      return AgentError{proto::errc::kArmFailed,
                        "dm_dust block_size " + std::to_string(block) + " is not a power of 2 >= 512"};
    DmTarget t{0, disk->sectors, "dust", disk->node + " 0 " + std::to_string(block)};
    FB_TRY(create(name, t));
    counters_["table"] = "0 " + std::to_string(disk->sectors) + " dust " + t.params;
    if (auto s = configure(name, p); !s) {
      counter_.remove();
      remove_device();
      return s;
    }
    counters_["block_size"] = block;
    return {};
  }

  void disarm() override {
    if (name_.empty()) return;
    counter_.stop();
    // What writes left of the list: dm-dust drops a bad block when it is written (a remap).
    if (auto left = dm_.message(name_, "listbadblocks")) counters_["bad_blocks_left"] = parse_dust_block_list(*left);
    counters_["fired"] = counter_.count();
    counters_["failed_bios"] = counter_.records();
    counters_["stacks"] = stacks_of({&counter_});
    remove_device();
    counter_.remove();
  }

 private:
  // The bad-block list and the counter on the device made by create(); the caller tears down on failure.
  AgentStatus configure(const std::string& name, const json& p) {
    // Quiet first, so adding the list is not logged block by block when asked not to.
    if (p.value("quiet", false)) FB_TRY(message("quiet"));
    for (auto& b : p.value("bad_blocks", std::vector<std::uint64_t>{})) FB_TRY(message("addbadblock " + std::to_string(b)));
    // Failed reads complete the dm device's own bio with an error: that completion is the count.
    FB_TRY(with_code(proto::errc::kNotAvailable,
                     counter_.start(name, "block/block_bio_complete", "dev == " + std::to_string(dev_) + " && error != 0", "")));
    // Enabled last: the device fails reads only once everything else is in place.
    if (p.value("enable", true)) FB_TRY(message("enable"));
    auto list = message("listbadblocks");
    if (!list) return list.error();
    counters_["bad_blocks"] = parse_dust_block_list(*list);
    return {};
  }

  TraceCounter counter_;
};

class DmFlakeyFault : public DmFault {
 public:
  AgentStatus arm(const std::string& name, const json& p) {
    auto disk = resolve_target(p);
    if (!disk) return disk.error();
    FlakeyParams fp;
    fp.device = disk->node;
    fp.up_interval = p.value("up_interval", 0ULL);
    fp.down_interval = p.value("down_interval", p.contains("up_interval") ? 0ULL : 1ULL);
    fp.drop_writes = p.value("drop_writes", false);
    fp.error_writes = p.value("error_writes", false);
    fp.corrupt_bio_byte = p.value("corrupt_bio_byte", std::vector<std::int64_t>{});
    auto params = flakey_table_params(fp);
    if (!params) return AgentError{proto::errc::kArmFailed, "dm_flakey: " + params.error().message};
    FB_TRY(create(name, DmTarget{0, disk->sectors, "flakey", *params}));
    counters_["table"] = "0 " + std::to_string(disk->sectors) + " flakey " + *params;
    // dm-flakey logs nothing per bio. What it does to a bio is decided in flakey_map: any
    // return but DM_MAPIO_REMAPPED (1) means it errored (KILL) or dropped/failed (SUBMITTED) it.
    // Corruption keeps REMAPPED, so it is counted at corrupt_bio_data when that is a symbol.
    std::string map_event = "faultbox/" + name + "_map";
    if (auto s = map_.start(name + "_map", map_event, "ret != 1", "r:" + map_event + " flakey_map ret=$retval"); !s) {
      remove_device();
      return AgentError{proto::errc::kNotAvailable, "dm_flakey counter: " + s.error().message};
    }
    if (!fp.corrupt_bio_byte.empty()) {
      std::string corrupt_event = "faultbox/" + name + "_corrupt";
      if (auto s = corrupt_.start(name + "_corrupt", corrupt_event, "", "p:" + corrupt_event + " corrupt_bio_data"))
        counting_corruption_ = true;
      else
        counters_["corruption_not_counted"] = s.error().message;
    }
    return {};
  }

  void disarm() override {
    if (name_.empty()) return;
    map_.stop();
    corrupt_.stop();
    counters_["dropped_or_failed_bios"] = map_.count();
    std::int64_t fired = map_.count();
    if (counting_corruption_) {
      // Calls, not proof: 6.1's read path calls it with the bio's iterator already consumed.
      counters_["corrupt_bio_data_calls"] = corrupt_.count();
      fired += corrupt_.count();
    }
    counters_["fired"] = fired;
    counters_["stacks"] = stacks_of({&map_, &corrupt_});
    remove_device();
    map_.remove();
    corrupt_.remove();
  }

 private:
  TraceCounter map_, corrupt_;
  bool counting_corruption_ = false;
};

constexpr const char* kScsiDebugDriver = "/sys/bus/pseudo/drivers/scsi_debug";
constexpr const char* kScsiDebugParams = "/sys/module/scsi_debug/parameters";

// Reads kernel log records from fd (non-blocking) until one contains `text`.
bool wait_for_log(const Fd& fd, const std::string& text, int ms) {
  char rec[8192];
  for (int waited = 0; waited < ms; waited += 20) {
    for (;;) {
      ssize_t n = read(fd.get(), rec, sizeof rec);
      if (n < 0 && errno == EPIPE) continue;  // overwritten records: go on with the oldest left
      if (n <= 0) break;
      if (std::string_view(rec, static_cast<std::size_t>(n)).find(text) != std::string_view::npos) return true;
    }
    usleep(20000);
  }
  return false;
}

class ScsiDebugFault : public BlockFault {
 public:
  ~ScsiDebugFault() override { disarm(); }

  AgentStatus arm(const std::string& name, const json& p) {
    std::string drv = kScsiDebugDriver;
    if (!exists(drv + "/add_host"))
      return AgentError{proto::errc::kNotAvailable, "no " + drv + " (kernel without CONFIG_SCSI_DEBUG?)"};
    auto opts = p.value("opts", std::vector<std::string>{});
    auto mask = with_code(proto::errc::kArmFailed, scsi_debug_opts_mask(opts));
    if (!mask) return mask.error();
    if (read_text(drv + "/add_host") != "0")
      return AgentError{proto::errc::kArmFailed, "a scsi_debug host already exists: its every_nth and opts are global, one "
                                                 "scsi_debug fault at a time"};
    if (auto s = set_up(name, p, *mask); !s) {
      disarm();
      return s;
    }
    counters_["opts"] = opts;
    json kinds = json::object();
    for (auto& o : proto::kScsiDebugOpts)
      if (*mask & o.bit) kinds[o.name] = o.what;
    counters_["injecting"] = kinds;
    return {};
  }

  void disarm() override {
    if (!added_) return;
    std::string drv = kScsiDebugDriver;
    (void)write_text(drv + "/opts", "0");
    (void)write_text(drv + "/every_nth", "0");
    errors_.stop();
    timeouts_.stop();
    io_errors_.stop();
    counters_["scsi_errors"] = errors_.count();
    counters_["scsi_timeouts"] = timeouts_.count();
    counters_["io_errors"] = io_errors_.count();
    counters_["fired"] = errors_.count() + timeouts_.count();
    counters_["failed_commands"] = errors_.records();
    counters_["failed_requests"] = io_errors_.records();
    counters_["stacks"] = stacks_of({&errors_, &timeouts_});
    // The driver's defaults (OPT_MEDIUM_ERR_ADDR, OPT_MEDIUM_ERR_NUM), for the next fault.
    (void)write_text(std::string(kScsiDebugParams) + "/medium_error_start", "4660");
    (void)write_text(std::string(kScsiDebugParams) + "/medium_error_count", "10");
    if (auto s = write_text(drv + "/add_host", "-1"); !s) counters_["teardown_error"] = s.error().message;
    errors_.remove();
    timeouts_.remove();
    io_errors_.remove();
    added_ = false;
  }

 private:
  // The host, its disk, the disk's knobs, the counters, then the injection; the caller disarms on failure.
  AgentStatus set_up(const std::string& name, const json& p, unsigned mask) {
    std::string drv = kScsiDebugDriver;
    auto sd = add_host_with_disk();
    if (!sd) return sd.error();
    if (p.contains("command_timeout"))
      FB_TRY(with_code(proto::errc::kArmFailed, write_text("/sys/block/" + *sd + "/device/timeout",
                                                           std::to_string(p.value("command_timeout", 30)))));
    for (const char* k : {"medium_error_start", "medium_error_count"})
      if (p.contains(k))
        FB_TRY(with_code(proto::errc::kArmFailed,
                         write_text(std::string(kScsiDebugParams) + "/" + k, std::to_string(p.value(k, 0)))));
    // What scsi_debug injected: commands it completed with a non-zero result or never answered
    // (timeouts) on this host; and what reached the block layer as an I/O error after retries.
    std::string h = "host_no == " + host_no_;
    unsigned long dev = sysfs_kernel_dev("/sys/block/" + *sd);
    FB_TRY(with_code(proto::errc::kNotAvailable, errors_.start(name + "_err", "scsi/scsi_dispatch_cmd_done", h + " && result != 0", "")));
    FB_TRY(with_code(proto::errc::kNotAvailable, timeouts_.start(name + "_tmo", "scsi/scsi_dispatch_cmd_timeout", h, "")));
    FB_TRY(with_code(proto::errc::kNotAvailable,
                     io_errors_.start(name + "_io", "block/block_rq_error", "dev == " + std::to_string(dev), "")));
    // every_nth before opts: the injection is live once opts is written.
    FB_TRY(with_code(proto::errc::kArmFailed, write_text(drv + "/every_nth", std::to_string(p.value("every_nth", 0)))));
    return with_code(proto::errc::kArmFailed, write_text(drv + "/opts", std::to_string(mask)));
  }

  // Adds a scsi_debug host and waits until sd has probed its disk; returns the disk ("sdb").
  AgentResult<std::string> add_host_with_disk() {
    std::string drv = kScsiDebugDriver;
    std::uint64_t start = monotonic_ns();
    auto before = dir_entries("/sys/class/scsi_host");
    // sd announces the end of its (asynchronous) probe, partition scan included, only in the
    // log; errors injected before it would fail the kernel's own reads, not the step's.
    Fd kmsg(open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (kmsg) lseek(kmsg.get(), 0, SEEK_END);
    FB_TRY(with_code(proto::errc::kArmFailed, write_text(drv + "/add_host", "1")));
    added_ = true;
    std::string host;
    for (auto& h : dir_entries("/sys/class/scsi_host"))
      if (std::find(before.begin(), before.end(), h) == before.end()) host = h;
    if (host.empty()) return AgentError{proto::errc::kArmFailed, "scsi_debug add_host made no new SCSI host"};
    // sd probes asynchronously: wait for the disk under the new host's device tree.
    std::string sd;
    std::string hostdir = "/sys/class/scsi_host/" + host + "/device";
    while (sd.empty() && ms_left(start) > 0) {
      for (auto& t : dir_entries(hostdir))
        if (t.rfind("target", 0) == 0)
          for (auto& lun : dir_entries(hostdir + "/" + t))
            for (auto& b : dir_entries(hostdir + "/" + t + "/" + lun + "/block")) sd = b;
      if (sd.empty()) usleep(20000);
    }
    device_ = "/dev/" + sd;
    if (sd.empty() || !wait_for(device_, ms_left(start))) {
      device_.clear();
      return AgentError{proto::errc::kArmFailed, "no disk appeared under scsi_debug's " + host};
    }
    if (kmsg && !wait_for_log(kmsg, "[" + sd + "] Attached SCSI", ms_left(start)))
      return AgentError{proto::errc::kArmFailed, "sd did not finish probing " + device_};
    host_no_ = host.substr(4);
    return sd;
  }

  bool added_ = false;
  std::string host_no_;
  TraceCounter errors_, timeouts_, io_errors_;
};

class NullBlkFault : public BlockFault {
 public:
  ~NullBlkFault() override { disarm(); }

  AgentStatus arm(const std::string& name, const json& p) {
    std::string root = g_configfs + "/nullb";
    if (!exists(root))
      return AgentError{proto::errc::kNotAvailable,
                        "no " + root + " (kernel without CONFIG_BLK_DEV_NULL_BLK or configfs)"};
    // Timeout and requeue injection are fault attributes null_blk reads from its module
    // parameters when a device is added (null_setup_fault); faultbox run sets them at boot.
    for (auto [key, param] : {std::pair{"timeout_every", "timeout"}, std::pair{"requeue_every", "requeue"}}) {
      if (!p.contains(key)) continue;
      std::string want = std::to_string(p.value(key, 0)) + ",100,0,-1";
      std::string have = read_text(std::string("/sys/module/null_blk/parameters/") + param);
      if (have != want)
        return AgentError{proto::errc::kNotAvailable, std::string(key) + " needs the kernel parameter null_blk." + param +
                                                          "=" + want + " (faultbox run adds it; this boot has '" + have + "')"};
    }
    dir_ = root + "/" + name;
    if (mkdir(dir_.c_str(), 0755) != 0) {
      std::string why = "mkdir " + dir_ + ": " + strerror(errno);
      dir_.clear();
      return AgentError{proto::errc::kArmFailed, why};
    }
    if (auto s = set_up(name, p); !s) {
      disarm();
      return s;
    }
    return {};
  }

  void disarm() override {
    if (dir_.empty()) return;
    counter_.stop();
    timeouts_.stop();
    requeues_.stop();
    // Failed requests (bad sectors and, with ETIMEDOUT, timeouts) plus requeues.
    counters_["fired"] = counter_.count() + requeues_.count();
    counters_["failed_requests"] = counter_.records();
    counters_["stacks"] = stacks_of({&counter_, &requeues_});
    if (counting_timeouts_) counters_["timed_out"] = timeouts_.count();
    if (counting_requeues_) counters_["requeued"] = requeues_.count();
    if (powered_)
      if (auto s = write_text(dir_ + "/power", "0"); !s) counters_["teardown_error"] = s.error().message;
    powered_ = false;
    if (rmdir(dir_.c_str()) != 0) counters_["teardown_error"] = "rmdir " + dir_ + ": " + strerror(errno);
    dir_.clear();
    counter_.remove();
    timeouts_.remove();
    requeues_.remove();
  }

 private:
  // The device's knobs, power, its node, then the counters; the caller disarms on failure.
  AgentStatus set_up(const std::string& name, const json& p) {
    // memory_backed: what a step writes reads back, so only the bad sectors differ.
    std::vector<std::pair<std::string, std::string>> knobs = {
        {"size", std::to_string(p.value("size_mb", 16))}, {"blocksize", "512"}, {"memory_backed", "1"}};
    for (auto& r : null_blk_badblock_ranges(p.value("bad_blocks", std::vector<std::uint64_t>{})))
      knobs.emplace_back("badblocks", r);
    for (auto& [k, v] : knobs) FB_TRY(with_code(proto::errc::kArmFailed, write_text(dir_ + "/" + k, v)));
    counters_["bad_blocks"] = read_text(dir_ + "/badblocks");
    FB_TRY(with_code(proto::errc::kArmFailed, write_text(dir_ + "/power", "1")));
    powered_ = true;
    // 6.1 names a configfs-made device after its directory (null_add_dev), not nullbN.
    std::string disk = name;
    device_ = "/dev/" + disk;
    if (!wait_for(device_, kWaitDeviceMs)) return AgentError{proto::errc::kArmFailed, device_ + " did not appear"};
    // null_blk fails a request that touches a bad sector with BLK_STS_IOERR: block_rq_error.
    unsigned long dev = sysfs_kernel_dev("/sys/block/" + disk);
    std::string on_dev = "dev == " + std::to_string(dev);
    FB_TRY(with_code(proto::errc::kNotAvailable, counter_.start(name, "block/block_rq_error", on_dev, "")));
    if (p.contains("timeout_every"))
      FB_TRY(with_code(proto::errc::kNotAvailable,
                       timeouts_.start(name + "_tmo", "block/block_rq_error", on_dev + " && error == -110", "")));
    if (p.contains("requeue_every"))
      FB_TRY(with_code(proto::errc::kNotAvailable, requeues_.start(name + "_rq", "block/block_rq_requeue", on_dev, "")));
    counting_timeouts_ = p.contains("timeout_every");
    counting_requeues_ = p.contains("requeue_every");
    return {};
  }

  std::string dir_;
  bool powered_ = false;
  bool counting_timeouts_ = false, counting_requeues_ = false;
  TraceCounter counter_, timeouts_, requeues_;
};

}  // namespace

void set_tracefs_root(const std::string& root) { g_tracefs = root; }
void set_configfs_root(const std::string& root) { g_configfs = root; }

bool is_block_fault_type(const std::string& type) {
  return type == "dm_dust" || type == "dm_flakey" || type == "scsi_debug" || type == "null_blk";
}

namespace {

// Arms a fault of class F; on failure F has left nothing behind.
template <class F>
AgentResult<std::unique_ptr<Fault>> arm_as(const std::string& name, const json& p) {
  auto f = std::make_unique<F>();
  FB_TRY(f->arm(name, p));
  return std::unique_ptr<Fault>(std::move(f));
}

}  // namespace

AgentResult<std::unique_ptr<Fault>> arm_block_fault(const json& spec) {
  std::string type = spec.value("type", "");
  std::string name = kernel_object_name(spec.value("name", type));
  const json& p = spec.contains("params") ? spec["params"] : json::object();
  if (type == "dm_dust") return arm_as<DmDustFault>(name, p);
  if (type == "dm_flakey") return arm_as<DmFlakeyFault>(name, p);
  if (type == "scsi_debug") return arm_as<ScsiDebugFault>(name, p);
  if (type == "null_blk") return arm_as<NullBlkFault>(name, p);
  return AgentError{proto::errc::kNotImplemented, "fault type '" + type + "' is not a block fault"};
}

}  // namespace fb::agent
