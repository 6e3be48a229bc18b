#include "guest-agent/bpf_override.h"

#include "common/fd.h"
#include "guest-agent/bpf_asm.h"
#include "protocol/protocol.h"

#include <linux/perf_event.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace fb::agent {

using nlohmann::json;

namespace {

std::string g_error_injection_list = "/sys/kernel/debug/error_injection/list";
constexpr const char* kKprobePmuType = "/sys/bus/event_source/devices/kprobe/type";

// Keys of the targets map: a cgroup id as is, a tgid with the top bit set so the two kinds
// cannot collide (both are small numbers).
constexpr std::uint64_t kTgidKeyBit = 1ull << 63;
constexpr int kMaxTargets = 64;
// Slots of the counters map.
constexpr std::uint32_t kEligibleSlot = 0;  // calls by the step's processes
constexpr std::uint32_t kFiredSlot = 1;     // calls overridden (after the probability draw)
// Distinct kernel stacks kept, and frames per stack (perf's limit is 127).
constexpr int kMaxStacks = 64;
constexpr int kStackDepth = 32;
// Frames of a stack in the report, as the kernel-log stacks of the other faults.
constexpr std::size_t kReportFrames = 6;

long sys_bpf(int cmd, bpf_attr& attr) { return syscall(__NR_bpf, cmd, &attr, sizeof attr); }

std::uint64_t ptr(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

Result<Fd> create_map(bpf_map_type type, std::uint32_t key_size, std::uint32_t value_size, std::uint32_t entries,
                      const char* name) {
  bpf_attr a{};
  a.map_type = type;
  a.key_size = key_size;
  a.value_size = value_size;
  a.max_entries = entries;
  strncpy(a.map_name, name, sizeof a.map_name - 1);
  int fd = static_cast<int>(sys_bpf(BPF_MAP_CREATE, a));
  if (fd < 0) return make_error(ErrorKind::Infra, "bpf(BPF_MAP_CREATE {}): {}", name, strerror(errno));
  return Fd(fd);
}

bool map_lookup(int map, const void* key, void* value) {
  bpf_attr a{};
  a.map_fd = static_cast<std::uint32_t>(map);
  a.key = ptr(key);
  a.value = ptr(value);
  return sys_bpf(BPF_MAP_LOOKUP_ELEM, a) == 0;
}

bool map_update(int map, const void* key, const void* value) {
  bpf_attr a{};
  a.map_fd = static_cast<std::uint32_t>(map);
  a.key = ptr(key);
  a.value = ptr(value);
  a.flags = BPF_ANY;
  return sys_bpf(BPF_MAP_UPDATE_ELEM, a) == 0;
}

void map_delete(int map, const void* key) {
  bpf_attr a{};
  a.map_fd = static_cast<std::uint32_t>(map);
  a.key = ptr(key);
  sys_bpf(BPF_MAP_DELETE_ELEM, a);
}

// next = the key after key (the first key when key is null); false at the end.
bool map_next_key(int map, const void* key, void* next) {
  bpf_attr a{};
  a.map_fd = static_cast<std::uint32_t>(map);
  a.key = ptr(key);
  a.next_key = ptr(next);
  return sys_bpf(BPF_MAP_GET_NEXT_KEY, a) == 0;
}

struct Maps {
  Fd targets;   // hash: u64 cgroup id or tagged tgid -> u32 (present = aimed at)
  Fd counters;  // array[2] of u64: eligible, fired
  Fd stacks;    // stack trace map: stack id -> kStackDepth return addresses
};

// The program, in the order it runs:
//   1. Is the current task the step's? Look its cgroup id up in targets, then its tagged tgid.
//   2. Count the eligible call; draw bpf_get_prandom_u32() % 100 < probability.
//   3. Record the kernel stack (before the override, which rewrites the saved ip).
//   4. bpf_override_return(ctx, retval) and count it as fired.
std::vector<bpf_insn> override_program(const Maps& m, std::int64_t retval, int probability) {
  using namespace bpf;
  Assembler a;
  auto aimed = a.new_label(), done = a.new_label();
  constexpr std::int16_t kKey = -8;    // u64 targets key on the stack
  constexpr std::int16_t kSlot = -12;  // u32 counters index on the stack

  a.mov(R6, R1);  // ctx (pt_regs), kept across helper calls
  a.call(BPF_FUNC_get_current_cgroup_id);
  a.store64(R10, kKey, R0);
  a.load_map(R1, m.targets.get());
  a.mov(R2, R10);
  a.add(R2, kKey);
  a.call(BPF_FUNC_map_lookup_elem);
  a.jump_if(BPF_JNE, R0, 0, aimed);
  a.call(BPF_FUNC_get_current_pid_tgid);
  a.rsh(R0, 32);
  a.load_imm64(R1, kTgidKeyBit);
  a.bit_or(R0, R1);
  a.store64(R10, kKey, R0);
  a.load_map(R1, m.targets.get());
  a.mov(R2, R10);
  a.add(R2, kKey);
  a.call(BPF_FUNC_map_lookup_elem);
  a.jump_if(BPF_JEQ, R0, 0, done);

  auto count = [&](std::uint32_t slot, Assembler::Label skip) {
    a.store32(R10, kSlot, static_cast<std::int32_t>(slot));
    a.load_map(R1, m.counters.get());
    a.mov(R2, R10);
    a.add(R2, kSlot);
    a.call(BPF_FUNC_map_lookup_elem);
    a.jump_if(BPF_JEQ, R0, 0, skip);
    a.mov(R1, 1);
    a.atomic_add64(R0, 0, R1);
  };
  a.bind(aimed);
  auto counted = a.new_label();
  count(kEligibleSlot, counted);
  a.bind(counted);
  if (probability < 100) {
    a.call(BPF_FUNC_get_prandom_u32);
    a.mod(R0, 100);
    a.jump_if(BPF_JGE, R0, probability, done);
  }
  a.mov(R1, R6);
  a.load_map(R2, m.stacks.get());
  a.mov(R3, 0);
  a.call(BPF_FUNC_get_stackid);  // < 0 (table full, hash clash): the stack is just not kept
  a.mov(R1, R6);
  a.load_imm64(R2, static_cast<std::uint64_t>(retval));
  a.call(BPF_FUNC_override_return);
  count(kFiredSlot, done);
  a.bind(done);
  a.mov(R0, 0);
  a.exit();
  return a.finish();
}

Result<Fd> load_program(const std::vector<bpf_insn>& insns) {
  static const char kLicense[] = "GPL";  // bpf_override_return is GPL-only
  auto attempt = [&](char* log, std::uint32_t log_size) {
    bpf_attr a{};
    a.prog_type = BPF_PROG_TYPE_KPROBE;
    a.insns = ptr(insns.data());
    a.insn_cnt = static_cast<std::uint32_t>(insns.size());
    a.license = ptr(kLicense);
    a.log_buf = ptr(log);
    a.log_size = log_size;
    a.log_level = log ? 1 : 0;
    strncpy(a.prog_name, "fb_override", sizeof a.prog_name - 1);
    return static_cast<int>(sys_bpf(BPF_PROG_LOAD, a));
  };
  int fd = attempt(nullptr, 0);
  if (fd >= 0) return Fd(fd);
  int first_errno = errno;
  // Load again with the verifier's log, only to say why.
  std::vector<char> log(64 * 1024);
  if (attempt(log.data(), static_cast<std::uint32_t>(log.size())) < 0) {
    std::string text(log.data());
    while (!text.empty() && text.back() == '\n') text.pop_back();
    if (auto nl = text.rfind('\n'); nl != std::string::npos) text = text.substr(nl + 1);
    return make_error(ErrorKind::Infra, "bpf(BPF_PROG_LOAD): {}: {}", strerror(first_errno), text);
  }
  return make_error(ErrorKind::Infra, "bpf(BPF_PROG_LOAD): {}", strerror(first_errno));
}

std::string read_first_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

// /proc/kallsyms text symbols, sorted, to name the addresses of a stack.
class KernelSymbols {
 public:
  KernelSymbols() {
    std::ifstream f("/proc/kallsyms");
    std::string line;
    while (std::getline(f, line)) {
      std::istringstream ls(line);
      std::string addr, kind, name;
      if (!(ls >> addr >> kind >> name) || (kind != "t" && kind != "T")) continue;
      syms_.emplace_back(strtoull(addr.c_str(), nullptr, 16), name);  // no exceptions in PID 1
    }
    std::sort(syms_.begin(), syms_.end());
  }
  std::string name(std::uint64_t addr) const {
    auto it = std::upper_bound(syms_.begin(), syms_.end(), std::make_pair(addr, std::string("\xff")));
    if (it == syms_.begin() || addr == 0) return "?";
    return std::prev(it)->second;
  }

 private:
  std::vector<std::pair<std::uint64_t, std::string>> syms_;
};

class BpfOverride : public Fault {
 public:
  BpfOverride(Maps maps, Fd prog, Fd event) : maps_(std::move(maps)), prog_(std::move(prog)), event_(std::move(event)) {}
  ~BpfOverride() override { disarm(); }

  json counters() override {
    if (event_) snapshot();
    return counters_;
  }

  // Detaches first (closing the perf event removes the kprobe and the program with it), then
  // keeps what the maps counted and closes them.
  void disarm() override {
    if (!event_) return;
    ioctl(event_.get(), PERF_EVENT_IOC_DISABLE, 0);
    event_.reset();
    snapshot();
    prog_.reset();
    maps_ = Maps{};
  }

  bool needs_task_mark() const override { return false; }

  Status on_step_start(const StepProcess& step) override {
    std::uint32_t one = 1;
    std::uint64_t key = target_key(step);
    if (key == kNoTarget)
      return make_error(ErrorKind::Infra, "bpf_override: the step aims itself at it, which needs cgroup v2");
    if (!maps_.targets || !map_update(maps_.targets.get(), &key, &one))
      return make_error(ErrorKind::Infra, "bpf_override: cannot add the step to the targets map: {}", strerror(errno));
    return {};
  }

  void on_step_end(const StepProcess& step) override {
    std::uint64_t key = target_key(step);
    if (maps_.targets) map_delete(maps_.targets.get(), &key);
  }

 private:
  // The step's cgroup covers its whole process tree; without one, only its first process.
  static constexpr std::uint64_t kNoTarget = 0;
  static std::uint64_t target_key(const StepProcess& step) {
    if (step.cgroup_id) return step.cgroup_id;
    return step.pid > 0 ? kTgidKeyBit | static_cast<std::uint32_t>(step.pid) : kNoTarget;
  }

  void snapshot() {
    std::uint64_t eligible = 0, fired = 0;
    std::uint32_t slot = kEligibleSlot;
    map_lookup(maps_.counters.get(), &slot, &eligible);
    slot = kFiredSlot;
    map_lookup(maps_.counters.get(), &slot, &fired);
    counters_["fired"] = fired;
    counters_["eligible"] = eligible;
    counters_["stacks"] = stacks();
  }

  // Distinct stacks as "fn <- caller <- ...", like the stacks the kernel logs for the other faults.
  json stacks() {
    json out = json::array();
    std::vector<std::vector<std::uint64_t>> raw;
    std::uint32_t key = 0, next = 0;
    const void* prev = nullptr;
    std::vector<std::uint64_t> ips(kStackDepth);
    while (map_next_key(maps_.stacks.get(), prev, &next)) {
      key = next;
      prev = &key;
      std::fill(ips.begin(), ips.end(), 0);
      if (map_lookup(maps_.stacks.get(), &key, ips.data())) raw.push_back(ips);
    }
    if (raw.empty()) return out;
    KernelSymbols syms;
    for (auto& st : raw) {
      std::string sig;
      for (std::size_t i = 0; i < st.size() && st[i] && i < kReportFrames; ++i)
        // A return address may sit just past its function (a call as the last instruction).
        sig += (i ? " <- " : "") + syms.name(i ? st[i] - 1 : st[i]);
      if (std::find(out.begin(), out.end(), sig) == out.end()) out.push_back(sig);
    }
    return out;
  }

  Maps maps_;
  Fd prog_;
  Fd event_;
  json counters_ = {{"fired", 0}, {"eligible", 0}, {"stacks", json::array()}};
};

// Whether fn is in the kernel's error-injection list; nullopt when the list cannot be read.
std::optional<bool> in_error_injection_list(const std::string& fn) {
  std::ifstream f(g_error_injection_list);
  if (!f) return std::nullopt;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream ls(line);
    std::string name;
    if (ls >> name && name == fn) return true;
  }
  return false;
}

AgentError not_injectable(const std::string& fn) {
  return AgentError{proto::errc::kNotInjectable,
                    "'" + fn + "' is not in the kernel's error-injection list (" + g_error_injection_list +
                        "): bpf_override_return works only on ALLOW_ERROR_INJECTION functions"};
}


// The program, its maps and the kprobe perf event it is attached through, enabled.
AgentResult<std::unique_ptr<Fault>> attach_override(const std::string& fn, std::int64_t retval, int probability,
                                                    unsigned long kprobe_pmu) {
  using proto::errc::kArmFailed;
  Maps maps;
  auto targets = with_code(kArmFailed, create_map(BPF_MAP_TYPE_HASH, sizeof(std::uint64_t), sizeof(std::uint32_t),
                                                  kMaxTargets, "fb_targets"));
  if (!targets) return targets.error();
  maps.targets = std::move(*targets);
  auto counters = with_code(kArmFailed, create_map(BPF_MAP_TYPE_ARRAY, sizeof(std::uint32_t), sizeof(std::uint64_t), 2,
                                                   "fb_counters"));
  if (!counters) return counters.error();
  maps.counters = std::move(*counters);
  auto stacks = with_code(kArmFailed, create_map(BPF_MAP_TYPE_STACK_TRACE, sizeof(std::uint32_t),
                                                 kStackDepth * sizeof(std::uint64_t), kMaxStacks, "fb_stacks"));
  if (!stacks) return stacks.error();
  maps.stacks = std::move(*stacks);

  auto prog = with_code(kArmFailed, load_program(override_program(maps, retval, probability)));
  if (!prog) return prog.error();

  // A kprobe perf event on fn (pid -1, cpu 0: a kprobe event runs its program on every CPU).
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = static_cast<std::uint32_t>(kprobe_pmu);
  attr.config = 0;  // bit 0 would make it a kretprobe
  attr.config1 = ptr(fn.c_str());  // kprobe_func
  attr.config2 = 0;                // offset into it: the entry, where an override is allowed
  attr.sample_period = 1;
  attr.wakeup_events = 1;
  attr.disabled = 1;
  Fd event(static_cast<int>(syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC)));
  if (!event)
    return AgentError{errno == ENOENT || errno == EINVAL ? proto::errc::kNotInjectable : proto::errc::kArmFailed,
                      "perf_event_open(kprobe " + fn + "): " + strerror(errno)};
  if (ioctl(event.get(), PERF_EVENT_IOC_SET_BPF, prog->get()) != 0) {
    // EINVAL here is the kernel's own refusal of an override outside the error-injection list.
    if (errno == EINVAL) return not_injectable(fn);
    return AgentError{proto::errc::kArmFailed, std::string("PERF_EVENT_IOC_SET_BPF: ") + strerror(errno)};
  }
  if (ioctl(event.get(), PERF_EVENT_IOC_ENABLE, 0) != 0)
    return AgentError{proto::errc::kArmFailed, std::string("PERF_EVENT_IOC_ENABLE: ") + strerror(errno)};
  return std::unique_ptr<Fault>(std::make_unique<BpfOverride>(std::move(maps), std::move(*prog), std::move(event)));
}

}  // namespace

void set_error_injection_list_path(const std::string& path) { g_error_injection_list = path; }

AgentResult<std::unique_ptr<Fault>> arm_bpf_override(const json& p) {
  std::string fn = p.value("function", "");
  std::int64_t retval = p.value("retval", -12LL);
  int probability = p.value("probability", 100);
  if (fn.empty()) return AgentError{proto::errc::kBadRequest, "bpf_override needs \"function\""};
  if (probability < 0 || probability > 100)
    return AgentError{proto::errc::kBadRequest, "bpf_override: probability must be 0..100"};
  // Refuse up front with the reason; the kernel would refuse the attach with a bare EINVAL.
  if (in_error_injection_list(fn) == false) return not_injectable(fn);
  std::string pmu_type = read_first_line(kKprobePmuType);
  char* end = nullptr;
  unsigned long kprobe_pmu = strtoul(pmu_type.c_str(), &end, 10);
  if (pmu_type.empty() || *end != '\0')
    return AgentError{proto::errc::kNotAvailable, std::string("no ") + kKprobePmuType + " (CONFIG_KPROBE_EVENTS off?)"};
  return attach_override(fn, retval, probability, kprobe_pmu);
}

}  // namespace fb::agent
