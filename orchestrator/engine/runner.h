#pragma once
// The runner: executes a plan on a VM. For each step it arms the step's faults through the fault
// ledger, runs the step (marked for task-filtered faults, under fail-nth when asked), disarms,
// and credits what fired; a step that cannot finish (crash, hang, VM gone) ends the plan with
// what the VM shows (vm/diagnosis.h). A Runner keeps its VM between plans, so callers that run
// many plans (exploration, repeats) boot once while the VM stays healthy.
#include "orchestrator/engine/judge.h"
#include "orchestrator/engine/kernel_log.h"
#include "orchestrator/engine/plan.h"
#include "orchestrator/engine/report.h"
#include "orchestrator/vm/session.h"

namespace fb {

struct RunnerOptions {
  bool follow = false;  // kernel log and step output live on stderr/stdout
};

class Runner {
 public:
  Runner(Session& session, RunnerOptions opts);
  // Starts following the kernel log (and the plan's tracefs events); once per VM.
  Status attach(const std::vector<std::string>& trace_events);
  // Runs the plan's steps on this VM. Fills r.steps, r.faults, r.kmsg, r.trace and, when the
  // plan ended early, r.crash_*, r.blocked_tasks and r.hang_evidence. The VM stays up.
  RunEnd run(const RunPlan& plan, RunReport& r);
  // Whether another plan may run on this VM: it did not crash or hang, and the agent answers.
  bool healthy() const { return healthy_; }

 private:
  struct StepRun;
  Result<std::unique_ptr<StepRun>> prepare(const RunPlan& plan, const StepPlan& sp, class FaultLedger& ledger,
                                           std::chrono::steady_clock::time_point plan_start);
  Result<ExecResult> run_foreground(const RunPlan& plan, StepRun& run, FaultLedger& ledger);
  Result<ExecResult> run_fail_nth(const FaultSpec& f, FaultResult& fr, StepRun& run);
  // Disarms and credits the step's faults, then judges the step; nullopt when the plan goes on.
  std::optional<RunEnd> settle(StepRun& run, FaultLedger& ledger, Result<ExecResult> res, RunReport& r);
  RunEnd end_early(const StepSpec& step, Error e, RunReport& r);
  void watch_for_page_fault_livelock(const RunPlan& plan, StepRun& run);
  std::string livelock_explanation(const StepRun& run) const;

  Session& s_;
  RunnerOptions opts_;
  KernelLog log_;
  bool healthy_ = true;
  std::string hang_evidence_;  // how the evidence of a step past its timeout was taken
  std::size_t plan_log_start_ = 0;  // the kernel log record where the next plan's window begins
};

// One run of a plan in a VM of its own: make the disks, boot, run, shut down, inspect the
// disks, judge. Always returns a report; its verdict says how it went.
RunReport run_plan(const RunPlan& plan, const RunnerOptions& opts);

}  // namespace fb
