// faultbox run SCENARIO: plan, run on a VM, judge; print the report and exit with the verdict's
// code. With several scenarios, --repeat or --jobs: every run is such a `faultbox run` of its
// own (a worker process), as many at once as --jobs says, merged into one summary, report and
// exit code (orchestrator/engine/batch.h). Everything between the options and the printing
// lives in orchestrator/engine.
#include "common/files.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/cli/session_options.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/image_builder.h"
#include "orchestrator/core/install_paths.h"
#include "orchestrator/core/log.h"
#include "orchestrator/core/printable.h"
#include "orchestrator/engine/batch.h"
#include "orchestrator/engine/ktap.h"
#include "orchestrator/engine/plan.h"
#include "orchestrator/engine/runner.h"
#include "orchestrator/vm/libvirt_backend.h"
#include "orchestrator/vm/vm.h"

#include <cstdio>

namespace fb::cli {

namespace {

struct RunOptions {
  std::vector<std::string> scenarios;
  std::string json, junit, keep, kernel;
  std::string backend;                // empty: the scenario's [vm] backend
  std::vector<std::string> connects;  // empty: the scenario's [vm] connect; several: one slot per host
  bool follow = false, ktap = false;
  int jobs = 0;  // 0: as many as the host allows
  int repeat = 1;
  bool many = false;  // several scenarios, --jobs or --repeat: a batch of worker processes
};

// The scenario, parsed and planned as the run would boot it; errors printed.
Result<RunPlan> plan_of(const RunOptions& o, const std::string& scenario) {
  auto sc = load_scenario(scenario);
  if (!sc) return sc.error();
  if (!o.kernel.empty()) {  // as `exec --kernel`: this run boots it, whatever [vm] kernel says
    sc->vm.kernel = o.kernel;
    sc->vm.kernel_where = SourceLocation{"--kernel", 0, 0};
  }
  if (!o.backend.empty()) {  // the command line wins over [vm]
    sc->vm.backend = o.backend;
    if (o.backend != "libvirt") sc->vm.connect.clear();  // the scenario's daemon is not asked for
  }
  if (!o.connects.empty()) sc->vm.connect = o.connects.front();  // a batch gives each worker its own
  if (!sc->vm.connect.empty() && sc->vm.backend != "libvirt")
    return make_error(ErrorKind::Usage, "--connect is for --backend libvirt, not {}", sc->vm.backend);
  auto plan = plan_scenario(*sc);
  if (!plan) return plan.error();
  // FAULTBOX_BACKEND picks the registry's backend for every run (the tests run whole `run`
  // commands on the fake one: the agent as a host process).
  if (const char* b = getenv("FAULTBOX_BACKEND"); b && *b) {
    plan->vm.backend = b;
    if (plan->vm.backend == "fake" && plan->vm.agent.empty()) {
      auto agent = agent_binary();
      if (!agent) return agent.error();
      plan->vm.agent = *agent;
    }
  }
  return plan;
}

// One run of one scenario: what `faultbox run FILE` has always printed, and its exit code.
int run_one(const RunOptions& o, const std::string& scenario) {
  auto plan = plan_of(o, scenario);
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
  // From here a signal only sets the flag, so the report files and the evidence dir are written
  // whole (and the exit is 128+N) rather than cut off: a batch's Ctrl-C can come at any moment.
  set_vm_phase(true);
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

// Every scenario --repeat times on up to --jobs VMs at once, each run a worker process.
int run_many(const RunOptions& o) {
  if (o.follow) {
    log_line(Verbosity::Quiet, "--follow shows one run live: not with several scenarios, --jobs or --repeat");
    return exit_code::kUsage;
  }
  // Every scenario planned first: one that `run` would refuse stops the batch before any boot.
  int memory = 0, cpus = 1;
  std::vector<std::filesystem::path> files;
  for (auto& s : o.scenarios) {
    auto plan = plan_of(o, s);
    if (!plan) {
      log_line(Verbosity::Quiet, plan.error().message);
      return exit_code::from_error(plan.error());
    }
    memory = std::max(memory, plan->vm.memory_mb);
    cpus = std::max(cpus, plan->vm.cpus);
    files.emplace_back(s);
  }
  BatchOptions bo;
  bo.runs = expand_runs(files, o.repeat);
  // A daemon that does not answer stops the batch before any disk is made: one line, exit 5.
  for (auto& uri : o.connects)
    if (auto conn = libvirt_connect(uri); !conn) {
      log_line(Verbosity::Quiet, conn.error().message);
      return exit_code::from_error(conn.error());
    }
  int jobs = o.jobs;
  if (jobs == 0 && o.connects.size() > 1) {
    // faultbox cannot see a remote host's cores and memory: one run per host unless told.
    progress("jobs: 1 per host on {} hosts (--jobs N for more)", o.connects.size());
    jobs = 1;
  } else if (jobs == 0) {
    auto choice = default_jobs(probe_host_capacity(), memory, cpus, bo.runs.size());
    progress("{}", choice.reason);
    jobs = choice.jobs;
  }
  // The backend and daemon as the command line named them: every worker is told the same, or,
  // with several --connect, each host is a slot of its own whose workers name that host.
  std::vector<std::string> backend_args;
  if (!o.backend.empty()) backend_args = {"--backend", o.backend};
  if (o.connects.size() <= 1) {
    auto args = backend_args;
    if (!o.connects.empty()) args.insert(args.end(), {"--connect", o.connects.front()});
    bo.slots = {Slot{o.connects.empty() ? "local" : o.connects.front(), jobs, args}};
  } else {
    for (auto& uri : o.connects) {
      auto args = backend_args;
      args.insert(args.end(), {"--connect", uri});
      bo.slots.push_back(Slot{uri, jobs, args});
    }
  }
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    log_line(Verbosity::Quiet, "cannot find faultbox's own executable: " + ec.message());
    return exit_code::kInfra;
  }
  bo.worker_head = {self.string(), "--cache-dir", cache_root().string()};
  if (verbosity() == Verbosity::Verbose) bo.worker_head.push_back("--verbose");
  bo.worker_head.push_back("run");
  if (!o.kernel.empty()) bo.worker_tail = {"--kernel", o.kernel};
  bo.keep_dir = o.keep;
  std::size_t total = bo.runs.size();
  // With --ktap stdout carries only KTAP; progress and the summary a person reads go to stderr.
  FILE* human = o.ktap ? stderr : stdout;
  bo.on_finished = [total, human](std::size_t done, const BatchRun& run, const RunOutcome& out) {
    std::string lines = progress_line(done, total, run, out) + "\n";
    if (out.verdict() != Verdict::Pass) {
      const RunReport& r = out.report;
      std::string why = !r.crash_title.empty() ? r.crash_title
                        : !r.error.empty()     ? r.error
                        : !r.failures.empty()  ? r.failures.front()
                                               : std::string();
      if (!why.empty()) lines += "    " + printable(why, 300, TextLayout::Lines) + "\n";
      if (!out.evidence.empty()) lines += "    evidence: " + out.evidence.string() + "\n";
    }
    fputs(lines.c_str(), human);
    fflush(human);
  };
  // From here a signal only sets the flag: the workers are reaped and nothing is left half-written.
  set_vm_phase(true);
  auto batch = run_batch(bo);
  if (!batch) {
    log_line(Verbosity::Quiet, batch.error().message);
    return exit_code::from_error(batch.error());
  }
  if (interrupted()) return 128 + interrupt_signal();
  std::string summary = batch->summary();
  fputs(summary.c_str(), human);
  fflush(human);
  if (o.ktap) {
    std::vector<RunReport> reports;
    for (std::size_t i = 0; i < batch->outcomes.size(); ++i)
      if (i < batch->finished.size() && batch->finished[i]) reports.push_back(batch->outcomes[i].report);
    fputs(to_ktap(reports).c_str(), stdout);
    fflush(stdout);
  }
  if (!o.json.empty())
    if (auto st = write_file_atomic(o.json, batch->to_json().dump(2)); !st) log_line(Verbosity::Quiet, st.error().message);
  if (!o.junit.empty())
    if (auto st = write_file_atomic(o.junit, batch->to_junit()); !st) log_line(Verbosity::Quiet, st.error().message);
  return exit_code_of(batch->verdict());
}

}  // namespace

CommandMain add_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Run scenarios: boot, arm faults, run steps, report what fired, verdict");
  cmd->footer("Exit: 0 pass, 1 expectation failed, 2 usage/scenario error, 3 kernel crash, 4 hang, 5 infrastructure, "
              "6 boot error; for several runs the worst of their verdicts (docs/exit-codes.md).");
  cmd->add_option("scenario", o->scenarios, "scenario file(s) (TOML)")->required();
  cmd->add_option("--json", o->json, "write the report as JSON (several runs: one merged report)");
  cmd->add_option("--junit", o->junit, "write a JUnit XML report (one case per step, plus the verdict; several runs: a suite each)");
  cmd->add_option("--keep-artifacts", o->keep,
                  "save report, kernel log, console, QEMU log, scenario and kernel config here (default for a run "
                  "that does not pass: $XDG_STATE_HOME/faultbox/runs/...; several runs: a subdir NAME-K each)");
  cmd->add_flag("--ktap", o->ktap, "print KTAP version 1 on stdout (as kselftest and KUnit do); the report goes to stderr");
  cmd->add_flag("--follow", o->follow, "show the kernel log and step output live (one run only)");
  cmd->add_option("--kernel", o->kernel, "bzImage to boot instead of the scenario's [vm] kernel (default: the cached faultbox kernel)");
  add_backend_options(*cmd, o->backend, o->connects);
  auto* jobs = cmd->add_option("--jobs", o->jobs,
                               "runs at once, each in a VM of its own (default: what the host's cores and memory allow; "
                               "with several --connect: per host, default 1)")
                   ->check(CLI::Range(1, 256));
  auto* repeat = cmd->add_option("--repeat", o->repeat, "run every scenario this many times")->check(CLI::Range(1, 100000));
  return [o, jobs, repeat] {
    o->many = o->scenarios.size() > 1 || jobs->count() > 0 || repeat->count() > 0 || o->connects.size() > 1;
    return o->many ? run_many(*o) : run_one(*o, o->scenarios.front());
  };
}

}  // namespace fb::cli
