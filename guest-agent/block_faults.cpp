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
  bool start(const std::string& instance, const std::string& event, const std::string& filter,
             const std::string& kprobe, std::string& err) {
    if (!exists(g_tracefs + "/instances")) {
      err = "no " + g_tracefs + "/instances (tracefs not mounted?)";
      return false;
    }
    if (!kprobe.empty()) {
      // O_APPEND: opening kprobe_events without it would delete every probe.
      if (!write_text(g_tracefs + "/kprobe_events", kprobe + "\n", err, O_WRONLY | O_APPEND)) return false;
      kprobe_ = event;
    }
    event_ = event;
    if (!make_instance(instance, filter, false, dir_, err)) {
      remove();
      return false;
    }
    // Where the kernel was when it failed the I/O: a second instance records a stack after each
    // event, keeping the first ones (its own count is not exact: stacks are entries too).
    std::string ignored;
    make_instance(instance + "_stk", filter, true, stack_dir_, ignored);
    return true;
  }

  // Freezes the buffers and reads the count, the first `keep` records and their stacks; idempotent.
  void stop(std::size_t keep = 8) {
    if (dir_.empty() || stopped_) return;
    stopped_ = true;
    std::string err;
    write_text(dir_ + "/tracing_on", "0", err);
    if (!stack_dir_.empty()) write_text(stack_dir_ + "/tracing_on", "0", err);
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
    std::string err;
    for (std::string* dir : {&dir_, &stack_dir_}) {
      if (dir->empty()) continue;
      write_text(*dir + "/events/" + event_ + "/enable", "0", err);
      rmdir(dir->c_str());
      dir->clear();
    }
    if (!kprobe_.empty()) {
      write_text(g_tracefs + "/kprobe_events", "-:" + kprobe_ + "\n", err, O_WRONLY | O_APPEND);
      kprobe_.clear();
    }
  }

  const std::vector<std::string>& stacks() const { return stacks_; }
  std::int64_t count() const { return count_; }
  const std::vector<std::string>& records() const { return records_; }

 private:
  // Instance `name` recording event_ through `filter`; with stacks, a kernel stack after each
  // record and, once its small buffer is full, new records dropped rather than old ones.
  bool make_instance(const std::string& name, const std::string& filter, bool stacks, std::string& dir,
                     std::string& err) {
    std::string path = g_tracefs + "/instances/" + name;
    if (exists(path)) rmdir(path.c_str());  // left by an agent that died: its events are stale
    if (mkdir(path.c_str(), 0755) != 0) {
      err = "mkdir " + path + ": " + strerror(errno);
      return false;
    }
    dir = path;
    std::string ev = path + "/events/" + event_;
    if (!exists(ev)) {
      err = "this kernel has no trace event " + event_;
      return false;
    }
    if (stacks && (!write_text(path + "/buffer_size_kb", "64", err) || !write_text(path + "/options/overwrite", "0", err) ||
                   !write_text(path + "/options/stacktrace", "1", err)))
      return false;
    if (!filter.empty() && !write_text(ev + "/filter", filter, err)) return false;
    return write_text(ev + "/enable", "1", err);
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

bool resolve_target(const json& p, TargetDisk& out, ArmError& error) {
  std::string err;
  std::string sysdir = resolve_disk_target(param_string(p, "target"), err);
  if (sysdir.empty()) {
    error = {proto::errc::kBadTarget, err};
    return false;
  }
  out.node = "/dev/" + sysdir.substr(sysdir.rfind('/') + 1);
  out.sectors = std::strtoull(read_text(sysdir + "/size").c_str(), nullptr, 10);
  if (out.sectors == 0 || !exists(out.node)) {
    error = {proto::errc::kBadTarget, "target " + param_string(p, "target") + " (" + out.node + ") has no usable size or node"};
    return false;
  }
  return true;
}

// A dm device over a scenario disk: created, loaded, resumed at arm; removed at disarm.
class DmFault : public BlockFault {
 public:
  ~DmFault() override { remove_device(); }

 protected:
  bool create(const std::string& name, const DmTarget& target, ArmError& error) {
    std::string err;
    dm_ = DmControl::open(err);
    if (!dm_.valid()) {
      error = {proto::errc::kNotAvailable, err};
      return false;
    }
    std::uint64_t dev = 0;
    if (!dm_.create(name, dev, err)) {
      error = {proto::errc::kArmFailed, err};
      return false;
    }
    name_ = name;
    if (!dm_.load_table(name, {target}, err) || !dm_.resume(name, err)) {
      error = {proto::errc::kArmFailed, err};
      remove_device();
      return false;
    }
    dev_ = kernel_dev(major(dev), minor(dev));
    device_ = "/dev/dm-" + std::to_string(minor(dev));
    if (!wait_for(device_, kWaitDeviceMs)) {
      error = {proto::errc::kArmFailed, device_ + " did not appear (devtmpfs?)"};
      remove_device();
      return false;
    }
    return true;
  }

  bool message(const std::string& text, std::string& reply, ArmError& error) {
    std::string err;
    if (!dm_.message(name_, text, reply, err)) {
      error = {proto::errc::kArmFailed, err + " (the kernel log says why)"};
      return false;
    }
    return true;
  }

  // Removes the device; retried briefly because a step's last opener may still be closing. A
  // device a step left open (a mount, a background reader) is removed when it is closed.
  bool remove_device() {
    if (name_.empty()) return true;
    std::string err;
    for (int i = 0; i < 100; ++i) {
      if (dm_.remove(name_, false, err)) {
        name_.clear();
        return true;
      }
      if (err.find(strerror(EBUSY)) == std::string::npos) break;
      usleep(20000);
    }
    if (err.find(strerror(EBUSY)) != std::string::npos && dm_.remove(name_, true, err)) {
      counters_["teardown"] = "deferred: " + device_ + " was still open after the step; removed when closed";
      name_.clear();
      return true;
    }
    counters_["teardown_error"] = err;
    return false;
  }

  DmControl dm_;
  std::string name_;
  unsigned long dev_ = 0;
};

class DmDustFault : public DmFault {
 public:
  bool arm(const std::string& name, const json& p, ArmError& error) {
    TargetDisk disk;
    if (!resolve_target(p, disk, error)) return false;
    std::uint64_t block = p.value("block_size", 512ULL);
    if (block < 512 || (block & (block - 1)) != 0) {
      error = {proto::errc::kArmFailed, "dm_dust block_size " + std::to_string(block) + " is not a power of 2 >= 512"};
      return false;
    }
    DmTarget t{0, disk.sectors, "dust", disk.node + " 0 " + std::to_string(block)};
    if (!create(name, t, error)) return false;
    counters_["table"] = "0 " + std::to_string(disk.sectors) + " dust " + t.params;
    std::string reply;
    // Quiet first, so adding the list is not logged block by block when asked not to.
    if (p.value("quiet", false) && !message("quiet", reply, error)) return fail();
    for (auto& b : p.value("bad_blocks", std::vector<std::uint64_t>{}))
      if (!message("addbadblock " + std::to_string(b), reply, error)) return fail();
    std::string err;
    // Failed reads complete the dm device's own bio with an error: that completion is the count.
    if (!counter_.start(name, "block/block_bio_complete", "dev == " + std::to_string(dev_) + " && error != 0", "",
                        err)) {
      error = {proto::errc::kNotAvailable, err};
      return fail();
    }
    // Enabled last: the device fails reads only once everything else is in place.
    if (p.value("enable", true) && !message("enable", reply, error)) return fail();
    if (!message("listbadblocks", reply, error)) return fail();
    counters_["bad_blocks"] = parse_dust_block_list(reply);
    counters_["block_size"] = block;
    return true;
  }

  void disarm() override {
    if (name_.empty()) return;
    counter_.stop();
    std::string reply, err;
    // What writes left of the list: dm-dust drops a bad block when it is written (a remap).
    if (dm_.message(name_, "listbadblocks", reply, err)) counters_["bad_blocks_left"] = parse_dust_block_list(reply);
    counters_["fired"] = counter_.count();
    counters_["failed_bios"] = counter_.records();
    counters_["stacks"] = stacks_of({&counter_});
    remove_device();
    counter_.remove();
  }

 private:
  bool fail() {
    counter_.remove();
    remove_device();
    return false;
  }
  TraceCounter counter_;
};

class DmFlakeyFault : public DmFault {
 public:
  bool arm(const std::string& name, const json& p, ArmError& error) {
    TargetDisk disk;
    if (!resolve_target(p, disk, error)) return false;
    FlakeyParams fp;
    fp.device = disk.node;
    fp.up_interval = p.value("up_interval", 0ULL);
    fp.down_interval = p.value("down_interval", p.contains("up_interval") ? 0ULL : 1ULL);
    fp.drop_writes = p.value("drop_writes", false);
    fp.error_writes = p.value("error_writes", false);
    fp.corrupt_bio_byte = p.value("corrupt_bio_byte", std::vector<std::int64_t>{});
    std::string err;
    std::string params = flakey_table_params(fp, err);
    if (params.empty()) {
      error = {proto::errc::kArmFailed, "dm_flakey: " + err};
      return false;
    }
    if (!create(name, DmTarget{0, disk.sectors, "flakey", params}, error)) return false;
    counters_["table"] = "0 " + std::to_string(disk.sectors) + " flakey " + params;
    // dm-flakey logs nothing per bio. What it does to a bio is decided in flakey_map: any
    // return but DM_MAPIO_REMAPPED (1) means it errored (KILL) or dropped/failed (SUBMITTED) it.
    // Corruption keeps REMAPPED, so it is counted at corrupt_bio_data when that is a symbol.
    std::string map_event = "faultbox/" + name + "_map";
    if (!map_.start(name + "_map", map_event, "ret != 1", "r:" + map_event + " flakey_map ret=$retval", err)) {
      error = {proto::errc::kNotAvailable, "dm_flakey counter: " + err};
      remove_device();
      return false;
    }
    if (!fp.corrupt_bio_byte.empty()) {
      std::string corrupt_event = "faultbox/" + name + "_corrupt";
      if (corrupt_.start(name + "_corrupt", corrupt_event, "", "p:" + corrupt_event + " corrupt_bio_data", err))
        counting_corruption_ = true;
      else
        counters_["corruption_not_counted"] = err;
    }
    return true;
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

  bool arm(const std::string& name, const json& p, ArmError& error) {
    std::string drv = kScsiDebugDriver;
    if (!exists(drv + "/add_host")) {
      error = {proto::errc::kNotAvailable, "no " + drv + " (kernel without CONFIG_SCSI_DEBUG?)"};
      return false;
    }
    unsigned mask = 0;
    std::string err;
    auto opts = p.value("opts", std::vector<std::string>{});
    if (!scsi_debug_opts_mask(opts, mask, err)) {
      error = {proto::errc::kArmFailed, err};
      return false;
    }
    if (read_text(drv + "/add_host") != "0") {
      error = {proto::errc::kArmFailed, "a scsi_debug host already exists: its every_nth and opts are global, one "
                                        "scsi_debug fault at a time"};
      return false;
    }
    std::uint64_t start = monotonic_ns();
    auto before = dir_entries("/sys/class/scsi_host");
    // sd announces the end of its (asynchronous) probe, partition scan included, only in the
    // log; errors injected before it would fail the kernel's own reads, not the step's.
    Fd kmsg(open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (kmsg) lseek(kmsg.get(), 0, SEEK_END);
    if (!write_text(drv + "/add_host", "1", err)) {
      error = {proto::errc::kArmFailed, err};
      return false;
    }
    added_ = true;
    std::string host;
    for (auto& h : dir_entries("/sys/class/scsi_host"))
      if (std::find(before.begin(), before.end(), h) == before.end()) host = h;
    if (host.empty()) {
      error = {proto::errc::kArmFailed, "scsi_debug add_host made no new SCSI host"};
      disarm();
      return false;
    }
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
      error = {proto::errc::kArmFailed, "no disk appeared under scsi_debug's " + host};
      device_.clear();
      disarm();
      return false;
    }
    if (kmsg && !wait_for_log(kmsg, "[" + sd + "] Attached SCSI", ms_left(start))) {
      error = {proto::errc::kArmFailed, "sd did not finish probing " + device_};
      disarm();
      return false;
    }
    host_no_ = host.substr(4);
    if (p.contains("command_timeout") &&
        !write_text("/sys/block/" + sd + "/device/timeout", std::to_string(p.value("command_timeout", 30)), err)) {
      error = {proto::errc::kArmFailed, err};
      disarm();
      return false;
    }
    for (const char* k : {"medium_error_start", "medium_error_count"})
      if (p.contains(k) && !write_text(std::string(kScsiDebugParams) + "/" + k, std::to_string(p.value(k, 0)), err)) {
        error = {proto::errc::kArmFailed, err};
        disarm();
        return false;
      }
    // What scsi_debug injected: commands it completed with a non-zero result or never answered
    // (timeouts) on this host; and what reached the block layer as an I/O error after retries.
    std::string h = "host_no == " + host_no_;
    unsigned long dev = sysfs_kernel_dev("/sys/block/" + sd);
    if (!errors_.start(name + "_err", "scsi/scsi_dispatch_cmd_done", h + " && result != 0", "", err) ||
        !timeouts_.start(name + "_tmo", "scsi/scsi_dispatch_cmd_timeout", h, "", err) ||
        !io_errors_.start(name + "_io", "block/block_rq_error", "dev == " + std::to_string(dev), "", err)) {
      error = {proto::errc::kNotAvailable, err};
      disarm();
      return false;
    }
    // every_nth before opts: the injection is live once opts is written.
    if (!write_text(drv + "/every_nth", std::to_string(p.value("every_nth", 0)), err) ||
        !write_text(drv + "/opts", std::to_string(mask), err)) {
      error = {proto::errc::kArmFailed, err};
      disarm();
      return false;
    }
    counters_["opts"] = opts;
    json kinds = json::object();
    for (auto& o : proto::kScsiDebugOpts)
      if (mask & o.bit) kinds[o.name] = o.what;
    counters_["injecting"] = kinds;
    return true;
  }

  void disarm() override {
    if (!added_) return;
    std::string err;
    std::string drv = kScsiDebugDriver;
    write_text(drv + "/opts", "0", err);
    write_text(drv + "/every_nth", "0", err);
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
    write_text(std::string(kScsiDebugParams) + "/medium_error_start", "4660", err);
    write_text(std::string(kScsiDebugParams) + "/medium_error_count", "10", err);
    if (!write_text(drv + "/add_host", "-1", err)) counters_["teardown_error"] = err;
    errors_.remove();
    timeouts_.remove();
    io_errors_.remove();
    added_ = false;
  }

 private:
  bool added_ = false;
  std::string host_no_;
  TraceCounter errors_, timeouts_, io_errors_;
};

class NullBlkFault : public BlockFault {
 public:
  ~NullBlkFault() override { disarm(); }

  bool arm(const std::string& name, const json& p, ArmError& error) {
    std::string root = g_configfs + "/nullb";
    if (!exists(root)) {
      error = {proto::errc::kNotAvailable, "no " + root + " (kernel without CONFIG_BLK_DEV_NULL_BLK or configfs)"};
      return false;
    }
    // Timeout and requeue injection are fault attributes null_blk reads from its module
    // parameters when a device is added (null_setup_fault); faultbox run sets them at boot.
    for (auto [key, param] : {std::pair{"timeout_every", "timeout"}, std::pair{"requeue_every", "requeue"}}) {
      if (!p.contains(key)) continue;
      std::string want = std::to_string(p.value(key, 0)) + ",100,0,-1";
      std::string have = read_text(std::string("/sys/module/null_blk/parameters/") + param);
      if (have != want) {
        error = {proto::errc::kNotAvailable, std::string(key) + " needs the kernel parameter null_blk." + param + "=" +
                                                 want + " (faultbox run adds it; this boot has '" + have + "')"};
        return false;
      }
    }
    dir_ = root + "/" + name;
    if (mkdir(dir_.c_str(), 0755) != 0) {
      error = {proto::errc::kArmFailed, "mkdir " + dir_ + ": " + strerror(errno)};
      dir_.clear();
      return false;
    }
    std::string err;
    // memory_backed: what a step writes reads back, so only the bad sectors differ.
    std::vector<std::pair<std::string, std::string>> knobs = {
        {"size", std::to_string(p.value("size_mb", 16))}, {"blocksize", "512"}, {"memory_backed", "1"}};
    for (auto& r : null_blk_badblock_ranges(p.value("bad_blocks", std::vector<std::uint64_t>{})))
      knobs.emplace_back("badblocks", r);
    for (auto& [k, v] : knobs)
      if (!write_text(dir_ + "/" + k, v, err)) {
        error = {proto::errc::kArmFailed, err};
        disarm();
        return false;
      }
    counters_["bad_blocks"] = read_text(dir_ + "/badblocks");
    if (!write_text(dir_ + "/power", "1", err)) {
      error = {proto::errc::kArmFailed, err};
      disarm();
      return false;
    }
    powered_ = true;
    // 6.1 names a configfs-made device after its directory (null_add_dev), not nullbN.
    std::string disk = name;
    device_ = "/dev/" + disk;
    if (!wait_for(device_, kWaitDeviceMs)) {
      error = {proto::errc::kArmFailed, device_ + " did not appear"};
      disarm();
      return false;
    }
    // null_blk fails a request that touches a bad sector with BLK_STS_IOERR: block_rq_error.
    unsigned long dev = sysfs_kernel_dev("/sys/block/" + disk);
    std::string on_dev = "dev == " + std::to_string(dev);
    if (!counter_.start(name, "block/block_rq_error", on_dev, "", err) ||
        (p.contains("timeout_every") &&
         !timeouts_.start(name + "_tmo", "block/block_rq_error", on_dev + " && error == -110", "", err)) ||
        (p.contains("requeue_every") && !requeues_.start(name + "_rq", "block/block_rq_requeue", on_dev, "", err))) {
      error = {proto::errc::kNotAvailable, err};
      disarm();
      return false;
    }
    counting_timeouts_ = p.contains("timeout_every");
    counting_requeues_ = p.contains("requeue_every");
    return true;
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
    std::string err;
    if (powered_ && !write_text(dir_ + "/power", "0", err)) counters_["teardown_error"] = err;
    powered_ = false;
    if (rmdir(dir_.c_str()) != 0) counters_["teardown_error"] = "rmdir " + dir_ + ": " + strerror(errno);
    dir_.clear();
    counter_.remove();
    timeouts_.remove();
    requeues_.remove();
  }

 private:
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

std::unique_ptr<Fault> arm_block_fault(const json& spec, ArmError& error) {
  std::string type = spec.value("type", "");
  std::string name = kernel_object_name(spec.value("name", type));
  const json& p = spec.contains("params") ? spec["params"] : json::object();
  if (type == "dm_dust") {
    auto f = std::make_unique<DmDustFault>();
    if (!f->arm(name, p, error)) return nullptr;
    return f;
  }
  if (type == "dm_flakey") {
    auto f = std::make_unique<DmFlakeyFault>();
    if (!f->arm(name, p, error)) return nullptr;
    return f;
  }
  if (type == "scsi_debug") {
    auto f = std::make_unique<ScsiDebugFault>();
    if (!f->arm(name, p, error)) return nullptr;
    return f;
  }
  if (type == "null_blk") {
    auto f = std::make_unique<NullBlkFault>();
    if (!f->arm(name, p, error)) return nullptr;
    return f;
  }
  error = {proto::errc::kNotImplemented, "fault type '" + type + "' is not a block fault"};
  return nullptr;
}

}  // namespace fb::agent
