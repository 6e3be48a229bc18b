#pragma once
// The plan pass (CONVENTIONS 5b): a parsed scenario becomes everything a run needs (per step
// what to arm, the fail-nth fault, the kernel command line, the VM settings) with every check
// that can be made before a VM boots. `check` and `run` both go through plan_scenario(), so
// whatever `run` would refuse before booting, `check` refuses first, with the same words.
#include "orchestrator/core/error_injection.h"
#include "orchestrator/core/scenario.h"
#include "orchestrator/vm/session.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <vector>

namespace fb {

struct StepPlan {
  std::size_t step = 0;                 // index into the scenario's steps
  std::vector<std::size_t> arm;         // faults armed around this step, in file order (not fail_nth)
  std::optional<std::size_t> fail_nth;  // the fail_nth fault that rides on the step's exec
  std::string ftrace_pid;  // a tracefs dir the agent points at the step's pid (`explore` discovery); "" off
};

struct RunPlan {
  Scenario scenario;
  // Per fault (same index as scenario.faults): the agent's arm request, every parameter with a
  // registry default filled in, so what the report says was armed is what the agent armed.
  std::vector<nlohmann::json> arm_requests;
  std::vector<StepPlan> steps;  // in run order
  // The VM: kernel, image, memory, accelerator, root, and the kernel command line the scenario
  // adds (panic_on_warn, init-time fault parameters, the disks the agent waits for). The
  // disks themselves are made when the run starts (a libguestfs appliance is not a check).
  SessionOptions vm;
  std::chrono::milliseconds run_timeout{0};

  const StepSpec& step_spec(const StepPlan& s) const { return scenario.steps[s.step]; }
  const FaultSpec& fault(std::size_t i) const { return scenario.faults[i]; }
};

// What the host knows before boot that a plan depends on.
struct PlanInputs {
  // The error-injection list of the kernel the run would boot, when known (read from its
  // vmlinux when faultbox built it, or cached from an earlier boot).
  std::optional<ErrorInjectionList> injectable;
};

// Pure: no files, no processes. Errors are Usage errors naming file:line:col.
Result<RunPlan> make_plan(const Scenario& sc, const PlanInputs& in);

// make_plan over what this host has: the kernel [vm] kernel names (or the cached one) must be a
// kernel, each [vm] include must be a file whose libraries exist, and the kernel's injectable
// list is used when known.
Result<RunPlan> plan_scenario(const Scenario& sc);

}  // namespace fb
