// faultbox run SCENARIO: plan, run on a VM, judge; print the report and exit with the verdict's
// code. Everything between the options and the printing lives in orchestrator/engine.
#include "common/files.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/core/log.h"
#include "orchestrator/engine/ktap.h"
#include "orchestrator/engine/plan.h"
#include "orchestrator/engine/runner.h"
#include "orchestrator/vm/vm.h"

#include <cstdio>

namespace fb::cli {

namespace {

struct RunOptions {
  std::string scenario, json, junit, keep, kernel;
  bool follow = false, ktap = false;
};

int run(const RunOptions& o) {
  auto sc = load_scenario(o.scenario);
  if (!sc) {
    log_line(Verbosity::Quiet, sc.error().message);
    return exit_code::kUsage;
  }
  if (!o.kernel.empty()) {  // as `exec --kernel`: this run boots it, whatever [vm] kernel says
    sc->vm.kernel = o.kernel;
    sc->vm.kernel_where = SourceLocation{"--kernel", 0, 0};
  }
  auto plan = plan_scenario(*sc);
  if (!plan) {
    log_line(Verbosity::Quiet, plan.error().message);
    return exit_code::from_error(plan.error());
  }
  RunReport r = run_plan(*plan, RunnerOptions{o.follow});
  // Interrupted by the user: tear down and go, leaving no evidence dir behind.
  if (interrupted()) return 128 + interrupt_signal();
  // With --ktap stdout carries only KTAP, for a CI parser; the report a person reads moves to stderr.
  FILE* human = o.ktap ? stderr : stdout;
  fputs(r.to_text().c_str(), human);
  if (o.ktap) fputs(to_ktap({&r, 1}).c_str(), stdout);
  fflush(stdout);
  if (!o.json.empty()) {
    auto st = write_file_atomic(o.json, r.to_json().dump(2));
    if (!st) log_line(Verbosity::Quiet, st.error().message);
  }
  if (!o.junit.empty()) {
    auto st = write_file_atomic(o.junit, r.to_junit());
    if (!st) log_line(Verbosity::Quiet, st.error().message);
  }
  bool passed = r.verdict == Verdict::Pass;
  if (!o.keep.empty()) {
    auto st = write_evidence(r, o.keep);
    if (!st) log_line(Verbosity::Quiet, st.error().message);
    else if (!passed) fprintf(human, "evidence: %s\n", o.keep.c_str());
  } else if (!passed) {
    auto dir = write_default_evidence(r);
    if (dir) fprintf(human, "evidence: %s\n", dir->c_str());
    else log_line(Verbosity::Quiet, dir.error().message);
  }
  return r.exit_code();
}

}  // namespace

CommandMain add_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Run a scenario: boot, arm faults, run steps, report what fired, verdict");
  cmd->footer("Exit: 0 pass, 1 expectation failed, 2 usage/scenario error, 3 kernel crash, 4 hang, 5 infrastructure, 6 boot error.");
  cmd->add_option("scenario", o->scenario, "scenario file (TOML)")->required();
  cmd->add_option("--json", o->json, "write the report as JSON");
  cmd->add_option("--junit", o->junit, "write a JUnit XML report (one case per step, plus the verdict)");
  cmd->add_option("--keep-artifacts", o->keep,
                  "save report, kernel log, console, QEMU log, scenario and kernel config here (default for a run "
                  "that does not pass: $XDG_STATE_HOME/faultbox/runs/...)");
  cmd->add_flag("--ktap", o->ktap, "print KTAP version 1 on stdout (as kselftest and KUnit do); the report goes to stderr");
  cmd->add_flag("--follow", o->follow, "show the kernel log and step output live");
  cmd->add_option("--kernel", o->kernel, "bzImage to boot instead of the scenario's [vm] kernel (default: the cached faultbox kernel)");
  return [o] { return run(*o); };
}

}  // namespace fb::cli
