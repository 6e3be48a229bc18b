// faultbox bisect --tree DIR --good REV --bad REV SCENARIO: which commit of a kernel tree made
// the scenario crash (fail, hang). The work is in orchestrator/bisect; this wires the options,
// checks the scenario before anything is built, and prints the result.
#include "common/files.h"
#include "orchestrator/bisect/bisect.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/log.h"
#include "orchestrator/core/scenario.h"
#include "orchestrator/engine/plan.h"
#include "orchestrator/vm/session.h"
#include "orchestrator/vm/vm.h"

#include <cstdio>

namespace fb::cli {

namespace {

struct BisectCliOptions {
  std::string tree, good, bad, scenario, bad_on, title, json;
  int repeat = 1, jobs = 0, build_jobs = 0;
  bool fresh = false;
};

int run_bisect_command(const BisectCliOptions& c) {
  BisectOptions o;
  o.tree = c.tree;
  o.good = c.good;
  o.bad = c.bad;
  o.scenario = std::filesystem::absolute(c.scenario);
  o.repeat = c.repeat;
  o.jobs = c.jobs;
  o.build_jobs = c.build_jobs;
  o.title_regex = c.title;
  o.fresh = c.fresh;
  if (!c.bad_on.empty()) o.bad_on = bad_on_named(c.bad_on);  // CLI11 checked the name
  // The scenario is checked before any worktree or build: a scenario error is one line, exit 2.
  auto sc = load_scenario(o.scenario);
  if (!sc) {
    log_line(Verbosity::Quiet, sc.error().message);
    return exit_code::from_error(sc.error());
  }
  if (!sc->vm.kernel.empty()) {
    log_line(Verbosity::Quiet, fmt::format("bisect: {}: [vm] kernel is set; bisect boots the kernel it builds at each step",
                                           c.scenario));
    return exit_code::kUsage;
  }
  auto plan = plan_scenario(*sc);
  if (!plan) {
    log_line(Verbosity::Quiet, plan.error().message);
    return exit_code::from_error(plan.error());
  }
  o.vm_memory_mib = plan->vm.memory_mb;
  o.vm_cpus = plan->vm.cpus;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    log_line(Verbosity::Quiet, "cannot find faultbox's own executable: " + ec.message());
    return exit_code::kInfra;
  }
  o.worker_head = {self.string(), "--cache-dir", cache_root().string()};
  if (verbosity() == Verbosity::Verbose) o.worker_head.push_back("--verbose");
  o.worker_head.push_back("run");
  // From here a signal only sets the flag: make is stopped, the workers tear their VMs down,
  // and the step being decided is left out of the log, to be done again on the next run.
  set_vm_phase(true);
  auto r = run_bisect(o);
  if (!r) {
    log_line(Verbosity::Quiet, r.error().message);
    return exit_code::from_error(r.error());
  }
  if (!c.json.empty())
    if (auto st = write_file_atomic(c.json, r->to_json().dump(2)); !st) log_line(Verbosity::Quiet, st.error().message);
  if (r->end == BisectResult::End::Interrupted) {
    log_line(Verbosity::Quiet, "bisect: interrupted; run the same command again to continue from the log");
    return exit_code::kInfra;  // main returns 128+signal
  }
  fputs(r->to_text().c_str(), stdout);
  fflush(stdout);
  return r->end == BisectResult::End::FirstBad ? 0 : 1;
}

}  // namespace

CommandMain add_bisect(CLI::App& app) {
  auto c = std::make_shared<BisectCliOptions>();
  auto* cmd = app.add_subcommand("bisect", "Find the commit of a kernel git tree that made a scenario crash, fail or hang");
  cmd->footer("Exit: 0 first bad commit found, 1 only skipped commits left (the candidates are printed), 2 bad input "
              "(not a git tree, GOOD not an ancestor of BAD, a scenario error, GOOD not good or BAD not bad), "
              "5 infrastructure, 128+N interrupted (run the same command again to continue). docs/bisect.md.");
  cmd->add_option("scenario", c->scenario, "the scenario that is the oracle (TOML)")->required();
  cmd->add_option("--tree", c->tree, "the kernel git tree (never changed: faultbox works in a worktree of its own)")
      ->required();
  cmd->add_option("--good", c->good, "a revision where the scenario passes")->required();
  cmd->add_option("--bad", c->bad, "a revision where it does not (a descendant of --good)")->required();
  cmd->add_option("--repeat", c->repeat, "runs per step, for flaky faults: bad if any run is bad, good if all pass")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--jobs", c->jobs, "runs at once (default: what the host allows, at most --repeat)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--build-jobs", c->build_jobs, "make -j for the kernel builds (default: number of CPUs)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--bad-on", c->bad_on, "the verdict that makes a commit bad (default: the one seen at --bad)")
      ->check(CLI::IsMember({"crash", "fail", "hang", "any"}));
  cmd->add_option("--title", c->title,
                  "a crash is this bug when its title matches this POSIX extended regex (default: the title seen at --bad)");
  cmd->add_option("--json", c->json, "write the bisection report as JSON");
  cmd->add_flag("--fresh", c->fresh, "start over: forget the log of an earlier bisect of this tree (built kernels stay cached)");
  return [c] { return run_bisect_command(*c); };
}

}  // namespace fb::cli
