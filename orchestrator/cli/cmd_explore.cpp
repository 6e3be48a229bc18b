// faultbox explore -- COMMAND / --scenario FILE: discover the fault sites a workload reaches,
// fail each once on warm VMs, classify and group the runs, and write explore.json, explore.txt
// and the evidence (orchestrator/explore). Exit 0 when the exploration ran (its findings are in
// the report, not the exit code), 2 for bad input, 5 when nothing could be explored, 128+N when
// interrupted (the partial report is written first).
#include "common/files.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/cli/session_options.h"
#include "orchestrator/core/log.h"
#include "orchestrator/explore/explore_run.h"
#include "orchestrator/vm/vm.h"

#include <cstdio>

namespace fb::cli {

namespace {

struct ExploreCliOptions {
  std::vector<std::string> command;
  std::string scenario, out, emit, sites, budget, timeout = "60s";
  std::vector<std::string> functions;
  bool always = false;
  int jobs = 1;
  SessionOptions session;
};

int fail(const Error& e) {
  log_line(Verbosity::Quiet, e.message);
  return exit_code::from_error(e);
}

Result<ExploreOptions> options_of(const ExploreCliOptions& c) {
  ExploreOptions o;
  Workload& w = o.workload;
  if (c.scenario.empty() == c.command.empty())
    return make_error(ErrorKind::Usage, "explore: give either -- COMMAND... or --scenario FILE (with an [explore] section)");
  auto timeout = parse_duration(c.timeout);
  if (!timeout || timeout->count() <= 0) return make_error(ErrorKind::Usage, "--timeout: '{}' is not a duration such as 60s", c.timeout);
  w.run_timeout = *timeout;
  w.kernel = c.session.kernel;
  w.memory_mb = c.session.memory_mb;
  std::string sites = c.sites;
  std::vector<std::string> functions = c.functions;
  bool always = c.always;
  if (!c.scenario.empty()) {
    auto sc = load_scenario(c.scenario);
    if (!sc) return sc.error();
    if (!sc->explore)
      return make_error(ErrorKind::Usage, "{}: no [explore] section: name the step to explore (step = \"NAME\")", c.scenario);
    auto text = read_file(c.scenario);
    if (!text) return text.error();
    w.scenario = c.scenario;
    w.scenario_text = *text;
    w.step = sc->explore->step;
    for (auto& st : sc->steps)
      if (st.name == w.step) w.command = st.argv;
    if (sites.empty())
      for (auto& k : sc->explore->sites) sites += (sites.empty() ? "" : ",") + k;
    if (functions.empty()) functions = sc->explore->functions;
    always = always || sc->explore->always;
  } else {
    w.command = c.command;
    w.step = "workload";
  }
  auto sel = parse_site_kinds(sites.empty() ? "nth,function" : sites);
  if (!sel) return sel.error();
  o.sites = *sel;
  o.sites.only_functions = functions;
  o.sites.always = always;
  if (!c.budget.empty()) {
    auto b = parse_duration(c.budget);
    if (!b || b->count() <= 0) return make_error(ErrorKind::Usage, "--budget: '{}' is not a duration such as 30m", c.budget);
    o.budget = *b;
  }
  o.jobs = c.jobs;
  o.vm = c.session;
  if (!c.out.empty()) {
    o.out = c.out;
  } else {
    auto dir = default_explore_dir(w);
    if (!dir) return dir.error();
    o.out = *dir;
  }
  o.emit_dir = c.emit;
  o.faultbox_version = FAULTBOX_VERSION;
  return o;
}

int run_explore_cli(const ExploreCliOptions& c) {
  auto o = options_of(c);
  if (!o) return fail(o.error());
  o->on_progress = [](const std::string& line) {
    if (verbosity() == Verbosity::Quiet) return;
    fprintf(stderr, "%s\n", line.c_str());
    fflush(stderr);
  };
  // From here a signal only sets the flag: the runs in flight end, the VMs go, and the partial
  // report is written whole before the exit.
  set_vm_phase(true);
  auto rep = run_explore(*o);
  if (!rep) return fail(rep.error());
  fputs(rep->to_text().c_str(), stdout);
  fprintf(stdout, "report: %s\n", (o->out / "explore.json").c_str());
  fflush(stdout);
  if (interrupted()) return 128 + interrupt_signal();
  return exit_code::kPass;
}

}  // namespace

CommandMain add_explore(CLI::App& app) {
  auto c = std::make_shared<ExploreCliOptions>();
  auto* cmd = app.add_subcommand(
      "explore", "Map a workload's fault space: find the fault sites it reaches, fail each once, classify every run");
  cmd->footer(
      "Outcomes: pass, handled, silent, hang, kernel-crash, warning, data-loss, infra-error, not-run (docs/explore.md).\n"
      "Exit: 0 explored (findings are in the report), 2 usage, 5 nothing could be explored, 128+N interrupted.\n"
      "Example: faultbox explore --jobs 2 -- mkdir /tmp/x");
  add_session_options(*cmd, c->session);
  cmd->add_option("--scenario", c->scenario, "explore the [explore] step of this scenario file instead of a command");
  cmd->add_option("--jobs", c->jobs, "warm VMs running sites at once (default 1)")->check(CLI::Range(1, 64));
  cmd->add_option("--budget", c->budget, "stop starting runs after this long (e.g. 30m); the rest are not-run");
  cmd->add_option("--sites", c->sites, "site kinds: nth,function,block (default nth,function; block: each request to each scenario disk)");
  cmd->add_option("--function", c->functions, "only this injectable function (repeatable)")->allow_extra_args(false);
  cmd->add_flag("--always", c->always, "also fail each function on every call, not only once, and every request to each disk");
  cmd->add_option("--timeout", c->timeout, "a run's limit before it counts as a hang (default 60s; a scenario's [vm] timeout wins)");
  cmd->add_option("--out", c->out, "report dir (default $XDG_STATE_HOME/faultbox/explore/<time>-<name>-<pid>)");
  cmd->add_option("--emit-scenarios", c->emit, "write a scenario per interesting run (crash, hang, warning, data loss, silent) here");
  cmd->add_option("command", c->command, "the workload and its arguments, after --")->expected(-1);
  return [c] { return run_explore_cli(*c); };
}

}  // namespace fb::cli
