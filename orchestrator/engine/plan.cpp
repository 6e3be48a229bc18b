#include "orchestrator/engine/plan.h"

#include "orchestrator/core/image_builder.h"
#include "protocol/fault_types.h"
#include "protocol/protocol.h"

#include <fmt/format.h>

#include <algorithm>

namespace fb {

namespace {

bool armed_for(const FaultSpec& f, const std::string& step) {
  return f.steps.empty() || std::find(f.steps.begin(), f.steps.end(), step) != f.steps.end();
}

Error refuse(const SourceLocation& at, const std::string& message) {
  return make_error(ErrorKind::Usage, "{}: {}", at.str(), message);
}

// Every registry default the scenario left out, filled in: the agent arms exactly this.
nlohmann::json arm_request(const FaultSpec& f) {
  nlohmann::json params = f.params;
  if (auto* type = proto::find_fault_type(f.type))
    for (auto& p : type->params) {
      if (params.contains(p.key) || !p.default_value) continue;
      if (p.kind == proto::ParamKind::Bool) params[p.key] = *p.default_value != 0;
      else params[p.key] = *p.default_value;
    }
  return {{"type", f.type}, {"name", f.name}, {"params", params}};
}

// fail-nth is one number per process, and it runs the step itself in the foreground.
Result<std::optional<std::size_t>> fail_nth_of(const Scenario& sc, const StepSpec& step) {
  std::optional<std::size_t> found;
  for (std::size_t i = 0; i < sc.faults.size(); ++i) {
    const FaultSpec& f = sc.faults[i];
    if (f.type != "fail_nth" || !armed_for(f, step.name)) continue;
    if (found)
      return refuse(f.where, fmt::format("step '{}' already has fail_nth fault '{}' ({}); a process has one fail-nth",
                                         step.name, sc.faults[*found].name, sc.faults[*found].where.str()));
    if (step.background)
      return refuse(f.where, fmt::format("fail_nth fault '{}' on background step '{}' ({}): fail-nth runs the step "
                                         "itself, in the foreground",
                                         f.name, step.name, step.where.str()));
    found = i;
  }
  return found;
}

// A debugfs fault type has one set of knobs in the kernel (/sys/kernel/debug/<type>): two faults
// of a type armed at once would overwrite each other's settings, mix their counts, and the first
// disarm would disarm both. A background step keeps its faults armed until the run's end.
Status check_shared_knobs(const Scenario& sc, const std::vector<StepPlan>& steps) {
  std::vector<std::pair<std::size_t, std::size_t>> live;  // (fault, step that armed it) still armed
  for (auto& sp : steps) {
    const StepSpec& step = sc.steps[sp.step];
    std::vector<std::pair<std::size_t, std::size_t>> now = live;
    for (std::size_t fi : sp.arm) {
      const FaultSpec& f = sc.faults[fi];
      for (auto& [other, armed_by] : now) {
        const FaultSpec& o = sc.faults[other];
        if (other == fi)
          return refuse(f.where, fmt::format("fault '{}' is still armed by background step '{}' when step '{}' arms it "
                                             "again; name only one of the two steps in its `steps`",
                                             f.name, sc.steps[armed_by].name, step.name));
        auto* type = proto::find_fault_type(f.type);
        if (o.type == f.type && type && type->debugfs())
          return refuse(f.where, fmt::format("fault '{}' and fault '{}' ({}) are both {} faults armed during step '{}': "
                                             "they share one set of knobs in the kernel (debugfs {}/), so their "
                                             "settings and fired counts would mix; arm them in different steps",
                                             f.name, o.name, o.where.str(), f.type, step.name, f.type));
      }
      now.emplace_back(fi, sp.step);
    }
    if (step.background)
      for (std::size_t fi : sp.arm) live.emplace_back(fi, sp.step);
  }
  return {};
}

// fail_io_timeout drops a request's completion; only a driver whose timeout handling ends the
// request recovers. On 6.1 virtio-blk has no timeout handler and virtio-scsi re-arms its timer,
// so the I/O (measured: once the agent's own read of the disk's serial) hangs for good.
Status check_io_timeout_bus(const Scenario& sc) {
  for (auto& f : sc.faults) {
    if (f.type != "fail_io_timeout") continue;
    std::string target = f.params.value("target", "");
    std::string name = target.substr(5, target.find('/') == std::string::npos ? std::string::npos : target.find('/') - 5);
    for (auto& d : sc.disks)
      if (d.name == name && d.bus != "ide")
        return refuse(f.where, fmt::format("fail_io_timeout on disk '{}' (bus {}) would hang its I/O for good: on this "
                                           "bus a request whose completion is dropped is never timed out ({}); put the "
                                           "disk on bus = \"ide\", whose timeout handling ends the request with EIO",
                                           name, d.bus,
                                           d.bus == "virtio-blk" ? "virtio-blk has no timeout handler"
                                                                 : "virtio-scsi re-arms the timer"));
  }
  return {};
}

// What the agent refuses in an exec request (protocol/protocol.h), checked here so `check` says it
// before a VM boots: argv plus the env faultbox adds over kMaxExecArgBytes, the request's JSON
// line (control characters are escaped six bytes each) over kMaxLineBytes, or more than
// kMaxOutstandingExecs commands at once.
Status check_exec_limits(const Scenario& sc, const std::vector<StepPlan>& steps) {
  // Per armed fault: FAULTBOX_FAULT_<NAME>_<KEY>=<value> for what its arm reply reports (a
  // device path such as /dev/dm-0); key and value together are far below this.
  constexpr std::size_t kFaultEnvAllowance = 128;
  constexpr std::size_t kRequestFieldsAllowance = 1024;  // op, id, cwd, faults, make_it_fail, ...
  int background_before = 0;
  for (auto& sp : steps) {
    const StepSpec& step = sc.steps[sp.step];
    std::size_t arg_bytes = 0;
    for (auto& a : step.argv) arg_bytes += a.size();
    std::size_t line_bytes = nlohmann::json(step.argv).dump().size() + kRequestFieldsAllowance;
    for (std::size_t fi : sp.arm) {
      std::size_t env = std::string("FAULTBOX_FAULT_").size() + sc.faults[fi].name.size() + kFaultEnvAllowance;
      arg_bytes += env;
      line_bytes += env * 6 + 8;
    }
    if (arg_bytes > proto::kMaxExecArgBytes)
      return refuse(step.where, fmt::format("step '{}': its command and the environment faultbox adds take up to {} "
                                            "bytes; the agent runs at most {} bytes (256 KiB) of argv and env in one exec",
                                            step.name, arg_bytes, proto::kMaxExecArgBytes));
    // Worst case: every earlier background step still runs when this one starts.
    if (background_before >= proto::kMaxOutstandingExecs)
      return refuse(step.where, fmt::format("step '{}' would start while {} background steps may still run; the agent "
                                            "runs at most {} commands at once",
                                            step.name, background_before, proto::kMaxOutstandingExecs));
    background_before += step.background;
    if (line_bytes > proto::kMaxLineBytes)
      return refuse(step.where, fmt::format("step '{}': its exec request would be a control line of up to {} bytes "
                                            "(control characters travel escaped); the agent reads lines of at most {} "
                                            "bytes (1 MiB)",
                                            step.name, line_bytes, proto::kMaxLineBytes));
  }
  return {};
}

// Fault knobs the kernel reads only when a driver initialises become kernel parameters:
// scsi_debug's dev_size_mb, null_blk's timeout and requeue fault attributes (6.1 has no
// per-device or run-time knob for them). One value per run; they do nothing until a fault
// creates a device.
Result<std::string> init_time_cmdline(const Scenario& sc) {
  struct Param {
    const char* type;
    const char* key;
    const char* kernel_param;
    std::string (*value)(std::int64_t);
  };
  // "<interval>,<probability>,<space>,<times>": every Nth request, no limit.
  auto every_nth = [](std::int64_t n) { return fmt::format("{},100,0,-1", n); };
  auto plain = [](std::int64_t n) { return std::to_string(n); };
  const Param params[] = {{"scsi_debug", "dev_size_mb", "scsi_debug.dev_size_mb", plain},
                          {"null_blk", "timeout_every", "null_blk.timeout", every_nth},
                          {"null_blk", "requeue_every", "null_blk.requeue", every_nth}};
  std::string out;
  for (auto& p : params) {
    const FaultSpec* first = nullptr;
    for (auto& f : sc.faults) {
      if (f.type != p.type || !f.params.contains(p.key)) continue;
      if (first && first->params[p.key] != f.params[p.key])
        return refuse(f.where, fmt::format("{} {} differs from {} at {} (it becomes the kernel parameter {}: one value "
                                           "per run)",
                                           p.key, f.params[p.key].dump(), first->params[p.key].dump(),
                                           first->where.str(), p.kernel_param));
      if (!first) out += fmt::format(" {}={}", p.kernel_param, p.value(f.params[p.key].get<std::int64_t>()));
      first = &f;
    }
  }
  return out;
}

SessionOptions vm_options(const Scenario& sc, const std::string& init_params) {
  SessionOptions so;
  so.kernel = sc.vm.kernel;
  so.includes = sc.vm.include;
  so.memory_mb = sc.vm.memory_mb;
  so.cpus = sc.vm.cpus;
  so.accel = sc.vm.accel;
  so.backend = sc.vm.backend;
  so.connect_uri = sc.vm.connect;
  so.name_hint = sc.file.stem().string();
  so.root = sc.vm.root;
  so.root_size = sc.vm.root_size;
  if (so.root_size) so.root_size_origin = sc.vm.root_size_where.str() + ": [vm] root_size";
  std::vector<std::string> words;
  if (!sc.vm.cmdline.empty()) words.push_back(sc.vm.cmdline);
  if (sc.vm.panic_on_warn) words.push_back("panic_on_warn=1");
  std::string cmdline;
  for (auto& w : words) cmdline += (cmdline.empty() ? "" : " ") + w;
  cmdline += init_params;
  // "faultbox.disk=NAME:SERIAL" per disk: the agent waits for these serials to appear (a SCSI
  // or ATA disk is probed after its controller) and resolves disk:NAME by them.
  for (auto& d : sc.disks) cmdline += fmt::format(" {}{}:{}", proto::kDiskCmdlineParam, d.name, d.serial);
  so.extra_cmdline = cmdline;
  return so;
}

}  // namespace

Result<RunPlan> make_plan(const Scenario& sc, const PlanInputs& in) {
  RunPlan plan;
  plan.scenario = sc;
  plan.run_timeout = sc.vm.timeout;
  for (auto& f : sc.faults) plan.arm_requests.push_back(arm_request(f));
  for (std::size_t si = 0; si < sc.steps.size(); ++si) {
    StepPlan sp;
    sp.step = si;
    auto nth = fail_nth_of(sc, sc.steps[si]);
    if (!nth) return nth.error();
    sp.fail_nth = *nth;
    for (std::size_t fi = 0; fi < sc.faults.size(); ++fi)
      if (sc.faults[fi].type != "fail_nth" && armed_for(sc.faults[fi], sc.steps[si].name)) sp.arm.push_back(fi);
    plan.steps.push_back(std::move(sp));
  }
  FB_TRY(check_shared_knobs(sc, plan.steps));
  FB_TRY(check_io_timeout_bus(sc));
  FB_TRY(check_exec_limits(sc, plan.steps));
  if (in.injectable)
    if (auto e = find_uninjectable_fault(sc, *in.injectable)) return *e;
  auto init_params = init_time_cmdline(sc);
  if (!init_params) return init_params.error();
  plan.vm = vm_options(sc, *init_params);
  return plan;
}

Result<RunPlan> plan_scenario(const Scenario& sc) {
  PlanInputs in;
  auto kernel = find_kernel(sc.vm.kernel);
  if (!kernel) {
    // From the scenario's [vm] kernel, or from `run --kernel` (a place with no line).
    const SourceLocation& at = sc.vm.kernel_where;
    if (at.file.empty()) return kernel.error();
    return refuse(at, (at.line ? "[vm] kernel: " : "") + kernel.error().message);
  }
  if (*kernel) in.injectable = cached_error_injection_list(**kernel);
  // What the boot image build would refuse: a missing include or one whose libraries are missing.
  for (auto& inc : sc.vm.include)
    if (auto closure = library_closure(inc); !closure) {
      Error e = closure.error();
      if (e.kind != ErrorKind::Usage) return e;
      return refuse(sc.vm.include_where, "[vm] include: " + e.message);
    }
  return make_plan(sc, in);
}

}  // namespace fb
