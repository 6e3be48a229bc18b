// faultbox run SCENARIO: plan, run on a VM, judge; print the report and exit with the verdict's
// code. Everything between the options and the printing lives in orchestrator/engine.
#include "common/files.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/cli/session_options.h"
#include "orchestrator/core/log.h"
#include "orchestrator/engine/plan.h"
#include "orchestrator/engine/runner.h"
#include "orchestrator/vm/libvirt_backend.h"
#include "orchestrator/vm/vm.h"

#include <cstdio>

namespace fb::cli {

namespace {

struct RunOptions {
  std::string scenario, json, junit, keep, kernel;
  std::string backend, connect;  // empty: the scenario's [vm] backend and connect
  bool follow = false;
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
  if (!o.backend.empty()) {  // the command line wins over [vm]
    sc->vm.backend = o.backend;
    if (o.backend != "libvirt") sc->vm.connect.clear();  // the scenario's daemon is not asked for
  }
  if (!o.connect.empty()) sc->vm.connect = o.connect;
  if (!sc->vm.connect.empty() && sc->vm.backend != "libvirt") {
    log_line(Verbosity::Quiet, "--connect is for --backend libvirt, not " + sc->vm.backend);
    return exit_code::kUsage;
  }
  auto plan = plan_scenario(*sc);
  if (!plan) {
    log_line(Verbosity::Quiet, plan.error().message);
    return exit_code::from_error(plan.error());
  }
  // A libvirt daemon that does not answer is refused before any disk is made: one line, exit 5,
  // no report and no evidence of a run that never started.
  if (plan->vm.backend == "libvirt")
    if (auto conn = libvirt_connect(plan->vm.connect_uri); !conn) {
      log_line(Verbosity::Quiet, conn.error().message);
      return exit_code::from_error(conn.error());
    }
  RunReport r = run_plan(*plan, RunnerOptions{o.follow});
  // Interrupted by the user: tear down and go, leaving no evidence dir behind.
  if (interrupted()) return 128 + interrupt_signal();
  std::string text = r.to_text();
  fputs(text.c_str(), stdout);
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
    else if (!passed) printf("evidence: %s\n", o.keep.c_str());
  } else if (!passed) {
    auto dir = write_default_evidence(r);
    if (dir) printf("evidence: %s\n", dir->c_str());
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
  cmd->add_flag("--follow", o->follow, "show the kernel log and step output live");
  cmd->add_option("--kernel", o->kernel, "bzImage to boot instead of the scenario's [vm] kernel (default: the cached faultbox kernel)");
  add_backend_options(*cmd, o->backend, o->connect);
  return [o] { return run(*o); };
}

}  // namespace fb::cli
