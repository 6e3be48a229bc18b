#pragma once
// The fault ledger: owns every arming of a run. It arms a step's faults (all or none), disarms
// them, and credits what fired to the right fault: the kernel's own counters read back at
// disarm, the FAULT_INJECTION records of the step's window of the kernel log, the stacks, and
// what a fault that the run's end took down with it showed in the log.
#include "orchestrator/engine/kernel_log.h"
#include "orchestrator/engine/plan.h"
#include "orchestrator/engine/report.h"
#include "orchestrator/vm/agent_client.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace fb {

// The faults armed around one step, and what the step's exec must carry for them.
struct StepArming {
  std::vector<std::pair<std::size_t, ArmedFault>> armed;  // fault index, agent handle
  bool needs_task_mark = false;
  std::map<std::string, std::string> env;  // FAULTBOX_FAULT_<NAME>_<KEY> from what arming reported
};

class FaultLedger {
 public:
  FaultLedger(const RunPlan& plan, AgentClient& agent);

  // Arms the step's faults; when one is refused, disarms the ones already armed and returns the
  // refusal at that fault's line.
  Result<StepArming> arm(const StepPlan& step);
  // Disarms them and credits their counters; returns the last kernel record number the agent had
  // sent by then (-1 when none is known), so the log can be waited for up to the disarm.
  std::int64_t disarm(StepArming& arming);
  // Credits the FAULT_INJECTION records of the step's window of the log to its armed faults.
  void credit_log(const StepArming& arming, std::span<const KmsgRecord> during);

  FaultResult& result(std::size_t fault) { return results_[fault]; }
  // The faults as the report shows them. With run_cut_short, a fault that was never disarmed
  // (the guest went first) counts what the kernel log showed, and says so.
  std::vector<FaultResult> results(bool run_cut_short) const;

 private:
  void credit_counters(FaultResult& fr, const nlohmann::json& counters);

  const RunPlan& plan_;
  AgentClient& agent_;
  std::vector<FaultResult> results_;
  std::set<std::size_t> undisarmed_;  // faults whose disarm found no agent (a crash, a wedged guest)
};

// Adds a stack signature once.
void add_stack(FaultResult& fr, const std::string& signature);

}  // namespace fb
