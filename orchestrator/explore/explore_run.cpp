#include "orchestrator/explore/explore_run.h"

#include "orchestrator/explore/explore_html.h"

#include "common/clock.h"
#include "common/files.h"
#include "orchestrator/core/crash_report.h"
#include "orchestrator/core/log.h"
#include "orchestrator/engine/judge.h"
#include "orchestrator/engine/plan.h"
#include "orchestrator/engine/runner.h"
#include "orchestrator/vm/vm.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <ctime>
#include <mutex>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace fb {

namespace fs = std::filesystem;

namespace {

constexpr const char* kTracing = "/sys/kernel/tracing";
// MemAvailable may drop this much below the VM's baseline before the VM counts as leaking: slab
// caches and the page cache grow over the first runs and settle (measured: a few MiB).
constexpr long kMemSlackKb = 24 * 1024;

// A shell command in the guest, unfaulted, outside any plan: its stdout, or why it failed.
Result<std::string> guest_sh(Session& s, const std::string& script, std::chrono::milliseconds timeout) {
  ExecRequest req;
  req.argv = {"sh", "-c", script};
  req.timeout = timeout;
  std::string out, err;
  auto res = s.agent().exec(req, [&](proto::Stream st, std::string_view d) {
    std::string& to = st == proto::Stream::Stderr ? err : out;
    if (to.size() < (64u << 20)) to.append(d);
  });
  if (!res) return res.error();
  if (res->status.shell_code() != 0)
    return make_error(ErrorKind::Infra, "guest command failed ({}): {}", res->status.describe(), err.substr(0, 300));
  return out;
}

// What a healthy VM looks like; compared after each run.
struct Baseline {
  std::string taint;
  long mem_available_kb = 0;
};

Result<Baseline> read_baseline(Session& s) {
  auto files = s.agent().read_files({"/proc/sys/kernel/tainted", "/proc/meminfo"});
  if (!files) return files.error();
  Baseline b;
  b.taint = (*files)["/proc/sys/kernel/tainted"];
  std::istringstream in((*files)["/proc/meminfo"]);
  std::string key;
  long value = 0;
  std::string unit;
  while (in >> key >> value) {
    std::getline(in, unit);
    if (key == "MemAvailable:") b.mem_available_kb = value;
  }
  return b;
}

// A VM that serves run after run.
struct WarmVm {
  std::unique_ptr<Session> session;
  std::unique_ptr<Runner> runner;
  Baseline baseline;
  double boot_s = 0;
};

Result<WarmVm> boot_warm_vm(const SessionOptions& so, const std::vector<std::string>& trace_events) {
  auto t0 = std::chrono::steady_clock::now();
  auto s = Session::boot(so);
  if (!s) return s.error();
  WarmVm vm;
  vm.boot_s = seconds_since(t0);
  vm.session = std::move(*s);
  vm.runner = std::make_unique<Runner>(*vm.session, RunnerOptions{false});
  FB_TRY(vm.runner->attach(trace_events));
  auto b = read_baseline(*vm.session);
  if (!b) return b.error();
  vm.baseline = *b;
  return vm;
}

// Shuts a VM down. A Session's destructor leaves the phase where a signal only sets a flag
// (session.cpp), but explore still owns other VMs and its report: it stays in that phase.
void drop_vm(std::optional<WarmVm>& vm) {
  vm.reset();
  set_vm_phase(true);
}

// Why the VM may not serve another run, or "" when it may.
std::string health_problem(WarmVm& vm) {
  if (!vm.runner->healthy()) return "the run ended the VM's usefulness (crash, hang or lost agent)";
  if (!vm.session->agent().ping()) return "the agent does not answer";
  auto now = read_baseline(*vm.session);
  if (!now) return "cannot read the kernel's state: " + now.error().message;
  if (now->taint != vm.baseline.taint)
    return fmt::format("taint changed from {} to {}", vm.baseline.taint.substr(0, vm.baseline.taint.find('\n')),
                       now->taint.substr(0, now->taint.find('\n')));
  if (now->mem_available_kb + kMemSlackKb < vm.baseline.mem_available_kb)
    return fmt::format("MemAvailable {} kB, {} kB below its baseline", now->mem_available_kb,
                       vm.baseline.mem_available_kb - now->mem_available_kb);
  return "";
}

std::vector<std::string> split_stack(const std::string& sig) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= sig.size()) {
    std::size_t at = sig.find(" <- ", pos);
    std::string f = sig.substr(pos, at == std::string::npos ? std::string::npos : at - pos);
    if (!f.empty()) out.push_back(f);
    if (at == std::string::npos) break;
    pos = at + 4;
  }
  return out;
}

// The plan of one run from its scenario text (planned the way `run` plans a file), with the
// VM settings of the command line.
Result<RunPlan> plan_text(const ExploreOptions& o, const std::string& toml,
                          const std::function<void(Scenario&)>& edit = nullptr) {
  std::string file = o.workload.scenario.empty() ? std::string("explore.toml") : o.workload.scenario.string();
  auto sc = parse_scenario_text(toml, file);
  if (!sc) return sc.error();
  if (!o.workload.kernel.empty()) {
    sc->vm.kernel = o.workload.kernel;
    sc->vm.kernel_where = SourceLocation{"--kernel", 0, 0};
  }
  if (edit) edit(*sc);
  auto plan = plan_scenario(*sc);
  if (!plan) return plan.error();
  plan->vm.accel = o.vm.accel;
  if (!o.vm.initrd.empty()) plan->vm.initrd = o.vm.initrd;
  for (auto& inc : o.vm.includes) plan->vm.includes.push_back(inc);
  plan->vm.echo_console = o.vm.echo_console;
  plan->vm.name_hint = "explore";
  return plan;
}

// One run's result, and how long faultbox spent around the workload.
struct RunResult {
  RunReport report;
  RunEnd end;
  bool vm_lost = false;   // the VM must be replaced after this run
  std::string replace_reason;
  double wall_s = 0, workload_s = 0;
  std::string console;  // the VM's console, kept for a crash or hang
};

// The plan on a warm VM, between a fresh tmpfs on /tmp and its removal; then the health check.
RunResult run_warm(WarmVm& vm, const RunPlan& plan) {
  RunResult rr;
  auto t0 = std::chrono::steady_clock::now();
  Session& s = *vm.session;
  auto req = s.timeouts().request * 4;
  RunReport& r = rr.report;
  r.scenario = plan.scenario.name;
  r.backend = s.backend_name();
  r.kernel_release = s.hello().kernel_release;
  r.kernel = s.kernel();
  if (auto m = guest_sh(s, "mount -t tmpfs -o mode=1777 explore-tmp /tmp", req); !m) {
    rr.end = {RunEnd::How::Error, m.error()};
    rr.vm_lost = true;
    rr.replace_reason = "cannot mount a fresh /tmp: " + m.error().message;
  } else {
    rr.end = vm.runner->run(plan, r);
    if (rr.end.how == RunEnd::How::Completed)
      if (auto u = guest_sh(s, "umount -l /tmp", req); !u) {
        rr.vm_lost = true;
        rr.replace_reason = "cannot remove the run's /tmp: " + u.error().message;
      }
  }
  judge(r, plan.scenario, rr.end);
  if (!rr.vm_lost && !interrupted()) {
    rr.replace_reason = health_problem(vm);
    rr.vm_lost = !rr.replace_reason.empty();
  }
  if (rr.vm_lost || rr.end.how != RunEnd::How::Completed) {
    rr.console = s.vm().console();
    r.console = rr.console;
  }
  for (auto& st : r.steps) rr.workload_s += st.seconds;
  rr.wall_s = seconds_since(t0);
  r.seconds = rr.wall_s;
  return rr;
}

// A plan with disks runs in a VM of its own: the disks must be fresh for every run.
RunResult run_cold(const RunPlan& plan) {
  RunResult rr;
  auto t0 = std::chrono::steady_clock::now();
  rr.report = run_plan(plan, RunnerOptions{false});
  set_vm_phase(true);  // its Session's destructor left the phase (see drop_vm)
  RunReport& r = rr.report;
  rr.console = r.console;
  using How = RunEnd::How;
  if (!r.crash_title.empty() && r.verdict != Verdict::Hang) rr.end = {How::KernelCrash, std::nullopt};
  else if (r.verdict == Verdict::Hang) rr.end = {How::Hang, make_error(ErrorKind::Timeout, "{}", r.error)};
  else if (r.verdict == Verdict::Pass || r.verdict == Verdict::Fail) rr.end = {How::Completed, std::nullopt};
  else rr.end = {How::Error, make_error(ErrorKind::Infra, "{}", r.error)};
  for (auto& st : r.steps) rr.workload_s += st.seconds;
  rr.wall_s = seconds_since(t0);
  return rr;
}

// Block discovery: a step just before the explored one and one just after it print every
// scenario disk's /sys/block/<dev>/stat, so the differences are the I/O the explored step (and
// whoever wrote to its disks meanwhile: the journal thread, writeback) sent to each disk.
void add_disk_stat_steps(Scenario& sc, const std::string& explored) {
  std::vector<std::string> names;
  for (auto& d : sc.disks) names.push_back(d.name);
  auto at = std::find_if(sc.steps.begin(), sc.steps.end(), [&](const StepSpec& st) { return st.name == explored; });
  if (at == sc.steps.end() || names.empty()) return;
  StepSpec stat;
  stat.argv = {"sh", "-c", disk_stat_script(names)};
  stat.expect_exit = 0;
  stat.mark_task = false;
  stat.timeout = std::chrono::seconds(60);
  stat.where = at->where;
  StepSpec before = stat, after = stat;
  before.name = kDiskStatBeforeStep;
  after.name = kDiskStatAfterStep;
  std::size_t i = static_cast<std::size_t>(at - sc.steps.begin());
  sc.steps.insert(sc.steps.begin() + static_cast<std::ptrdiff_t>(i) + 1, after);
  sc.steps.insert(sc.steps.begin() + static_cast<std::ptrdiff_t>(i), before);
}

// The block requests per disk a run with add_disk_stat_steps() saw, or why not.
Result<std::vector<DiskRequests>> disk_requests_of(const RunReport& r, const std::vector<std::string>& disks) {
  const StepResult *before = nullptr, *after = nullptr;
  for (auto& st : r.steps) {
    if (st.name == kDiskStatBeforeStep) before = &st;
    if (st.name == kDiskStatAfterStep) after = &st;
  }
  if (!before || !after || !before->finished || !after->finished)
    return make_error(ErrorKind::Infra, "the disk counters were not read {} the step", !before || !before->finished ? "before" : "after");
  return disk_requests_between(disks, parse_disk_stats(before->out), parse_disk_stats(after->out));
}

const FaultResult* explore_fault(const RunReport& r) {
  for (auto& f : r.faults)
    if (f.name == kExploreFaultName) return &f;
  return nullptr;
}

RunObservation observe(const RunResult& rr, const Workload& w) {
  const RunReport& r = rr.report;
  RunObservation o;
  o.scenario_mode = !w.scenario.empty();
  using How = RunEnd::How;
  switch (rr.end.how) {
    case How::Completed: o.end = RunObservation::End::Completed; break;
    case How::KernelCrash: o.end = RunObservation::End::KernelCrash; break;
    case How::Hang: o.end = RunObservation::End::Hang; break;
    case How::Error: o.end = RunObservation::End::Error; break;
  }
  if (interrupted() && rr.end.how != How::Completed && rr.end.how != How::KernelCrash)
    o.end = RunObservation::End::Interrupted;
  if (rr.end.error) o.error = rr.end.error->message;
  else if (!r.error.empty()) o.error = r.error;
  o.crash_title = r.crash_title;
  for (auto& st : r.steps)
    if (st.name == w.step) {
      o.step_ran = st.finished;
      o.exit_code = st.status.shell_code();
      o.step_stderr = st.err;
    }
  if (auto* f = explore_fault(r)) o.fired = f->fired;
  if (rr.end.how == How::Completed)
    if (auto scan = scan_console(r.kmsg); scan.crash) o.warning_title = scan.crash->title;
  for (auto& d : r.disks)
    for (auto& f : d.failures) o.disk_failures.push_back(f);
  for (auto& f : r.failures)
    if (std::find(o.disk_failures.begin(), o.disk_failures.end(), f) == o.disk_failures.end())
      o.scenario_failures.push_back(f);
  return o;
}

std::string iso_now() {
  time_t now = time(nullptr);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  return buf;
}

std::string kernel_hash_of(const fs::path& bzimage) {
  // The kernel cache keeps each kernel in kernels/<hash>/bzImage.
  return bzimage.parent_path().filename().string();
}

// The run's evidence files under runs/<id>/ (only the ones it has); paths relative to dir.
void write_run_evidence(ExploreRun& run, const RunResult& rr, const fs::path& dir) {
  const RunReport& r = rr.report;
  fs::path rel = fs::path("runs") / std::to_string(run.id);
  auto put = [&](const char* key, const char* name, const std::string& content) {
    if (content.empty()) return;
    std::error_code ec;
    fs::create_directories(dir / rel, ec);
    if (write_file_atomic(dir / rel / name, content)) run.evidence[key] = (rel / name).string();
  };
  std::string output;
  for (auto& st : r.steps) {
    if (st.out.empty() && st.err.empty()) continue;
    output += fmt::format("--- step {} ({}) stdout ---\n{}", st.name, st.status.describe(), st.out);
    if (!st.out.empty() && st.out.back() != '\n') output += '\n';
    output += fmt::format("--- step {} stderr ---\n{}", st.name, st.err);
    if (!st.err.empty() && st.err.back() != '\n') output += '\n';
  }
  put("output", "output.txt", output);
  bool keep_logs = run.outcome != Outcome::Pass && run.outcome != Outcome::Handled && run.outcome != Outcome::NotRun;
  if (!keep_logs) return;
  put("kmsg", "kmsg.log", r.kmsg);
  if (run.outcome == Outcome::KernelCrash || run.outcome == Outcome::Hang) put("console", "console.log", rr.console);
  std::string stack;
  if (!r.crash_report.empty()) stack = r.crash_report + "\n";
  if (run.outcome == Outcome::Warning)
    if (auto scan = scan_console(r.kmsg); scan.crash) stack = scan.crash->report + "\n";
  if (stack.empty() && !run.stack.empty())
    for (auto& f : run.stack) stack += f + "\n";
  if (!r.hang_evidence.empty()) stack += "\n" + r.hang_evidence + "\n";
  put("stack", "stack.txt", stack);
}

ExploreRun make_run(int id, const Site& site, const RunResult& rr, const Workload& w) {
  ExploreRun run;
  run.id = id;
  run.site = site;
  auto obs = observe(rr, w);
  auto c = classify(obs);
  run.outcome = c.outcome;
  run.title = c.title;
  run.detail = c.detail;
  run.fired = obs.fired;
  if (obs.step_ran) run.exit_code = obs.exit_code;
  run.duration_s = rr.wall_s;
  if (auto* f = explore_fault(rr.report); f && !f->stacks.empty()) run.stack = split_stack(f->stacks.front());
  return run;
}

struct Pool {
  std::mutex mu;
  std::atomic<std::size_t> next{0};
  VmStats stats;
  std::size_t done = 0;
  double run_seconds = 0;
  std::map<Outcome, int> counts;
};

}  // namespace

Result<fs::path> default_explore_dir(const Workload& w) {
  fs::path base;
  if (const char* x = getenv("XDG_STATE_HOME"); x && *x) base = x;
  else if (const char* h = getenv("HOME"); h && *h) base = fs::path(h) / ".local/state";
  else return make_error(ErrorKind::Usage, "neither XDG_STATE_HOME nor HOME is set: give --out DIR");
  std::string what = w.scenario.empty() ? (w.command.empty() ? "" : fs::path(w.command.front()).filename().string())
                                        : w.scenario.stem().string();
  std::string slug;
  for (char c : what.substr(0, 40)) slug += isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(tolower(c)) : '-';
  time_t now = time(nullptr);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", gmtime(&now));
  return base / "faultbox/explore" / fmt::format("{}-{}-{}", stamp, slug, getpid());
}

Status write_explore_report(const ExploreReport& r, const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(ErrorKind::Infra, "cannot make {}: {}", dir.string(), ec.message());
  auto json = r.to_json();
  FB_TRY(write_file_atomic(dir / "explore.json", json.dump(2) + "\n"));
  FB_TRY(write_file_atomic(dir / "explore.txt", r.to_text()));
  // The page is rendered from the JSON just written, as `faultbox explore-report` would, so the
  // two never disagree.
  FB_TRY(write_file_atomic(dir / "report.html", render_explore_html(json)));
  return {};
}

Result<ExploreReport> run_explore(const ExploreOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  const Workload& w = o.workload;
  ExploreReport rep;
  rep.faultbox_version = o.faultbox_version;
  rep.workload = w;
  rep.started = iso_now();
  rep.vms.jobs = o.jobs;
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) return make_error(ErrorKind::Usage, "--out {}: {}", o.out.string(), ec.message());

  // The unfaulted plan, to check the workload plans at all and to find the VM settings.
  auto base_plan = plan_text(o, scenario_toml(w, std::nullopt, true));
  if (!base_plan) return base_plan.error();
  bool cold = !base_plan->scenario.disks.empty();
  std::vector<std::string> disk_names;
  for (auto& d : base_plan->scenario.disks) disk_names.push_back(d.name);
  if (o.sites.block && disk_names.empty())
    return make_error(ErrorKind::Usage,
                      "--sites block: the workload has no [[disk]]: block sites are the requests its step sends to a "
                      "scenario disk (explore --scenario FILE with disks)");
  // The discovery reads the disks' counters in steps just before and after the explored step,
  // which only bound it when the next step waits for it.
  if (o.sites.block)
    for (auto& st : base_plan->scenario.steps)
      if (st.name == w.step && st.background)
        return make_error(ErrorKind::Usage,
                          "--sites block: step '{}' is a background step: its requests cannot be counted apart from "
                          "the steps that run beside it",
                          w.step);
  // A block site's plan before anything boots: a scenario with a fail_make_request of its own on
  // the explored step would have every block run refused (one debugfs fault type per step).
  if (o.sites.block)
    if (auto probe = plan_text(o, scenario_toml(w, Site::block(disk_names.front(), 1), true)); !probe)
      return make_error(ErrorKind::Usage, "--sites block: {}", probe.error().message);
  SessionOptions so = base_plan->vm;
  auto deadline = o.budget.count() > 0 ? t0 + o.budget : std::chrono::steady_clock::time_point::max();

  // ---- discovery, on the VM that becomes the first worker's (a plan with disks boots per run) ----
  auto d0 = std::chrono::steady_clock::now();
  std::optional<WarmVm> first;
  rep.accel = so.accel;
  if (!cold) {
    auto booted = boot_warm_vm(so, base_plan->scenario.trace_events);
    if (!booted) return booted.error();
    first = std::move(*booted);
    rep.vms.booted = 1;
    rep.vms.boot_s.push_back(first->boot_s);
    Session& s0 = *first->session;
    rep.kernel_release = s0.hello().kernel_release;
    rep.kernel_hash = kernel_hash_of(s0.kernel());
    rep.accel = s0.timeouts().slowdown > 1 ? "tcg" : "kvm";
  }
  Discovery& disc = rep.discovery;
  auto discovery_run = [&](const RunPlan& plan) { return cold ? run_cold(plan) : run_warm(*first, plan); };
  auto replace_first = [&](const std::string& why) -> Status {
    drop_vm(first);
    auto again = boot_warm_vm(so, base_plan->scenario.trace_events);
    if (!again) return again.error();
    first = std::move(*again);
    ++rep.vms.booted;
    ++rep.vms.replaced;
    rep.vms.boot_s.push_back(first->boot_s);
    progress("explore: VM replaced after discovery: {}", why);
    return {};
  };
  // Block discovery rides on the fail-nth count's run when there is one (a disk scenario's runs
  // each boot a VM and make its disks: one run fewer), else it is a run of its own.
  std::function<void(Scenario&)> disk_stats;
  if (o.sites.block) disk_stats = [&](Scenario& sc) { add_disk_stat_steps(sc, w.step); };
  auto count_disk_requests = [&](const RunResult& rr) {
    auto counted = disk_requests_of(rr.report, disk_names);
    if (counted) {
      disc.disks = *counted;
      disc.disks_counted = true;
    } else {
      disc.notes.push_back("block request count failed: " + counted.error().message +
                           (rr.report.error.empty() ? "" : ": " + rr.report.error));
    }
  };
  if (o.sites.nth && !interrupted()) {
    Site probe{Site::Kind::Nth, static_cast<unsigned>(kDiscoveryNth), "", "", 0, false};
    auto plan = plan_text(o, scenario_toml(w, probe, true), disk_stats);
    if (!plan) return plan.error();
    auto rr = discovery_run(*plan);
    if (cold) {
      rep.kernel_release = rr.report.kernel_release;
      rep.kernel_hash = kernel_hash_of(rr.report.kernel);
    }
    if (o.sites.block) count_disk_requests(rr);
    const FaultResult* f = explore_fault(rr.report);
    if (rr.end.how == RunEnd::How::Completed && f && !f->nth_runs.empty() && f->nth_runs.front().left)
      disc.nth_sites = static_cast<unsigned>(kDiscoveryNth - *f->nth_runs.front().left);
    else
      disc.notes.push_back("fail-nth count failed: " + (rr.end.error ? rr.end.error->message : rr.report.error));
    auto obs = observe(rr, w);
    if (obs.step_ran && obs.exit_code != 0)
      disc.notes.push_back(fmt::format("the workload exits {} without any fault", obs.exit_code));
    if (!cold && rr.vm_lost)
      if (auto st = replace_first(rr.replace_reason); !st) return st.error();
  }
  if (o.sites.block && !o.sites.nth && !interrupted()) {
    auto plan = plan_text(o, scenario_toml(w, std::nullopt, true), disk_stats);
    if (!plan) return plan.error();
    auto rr = discovery_run(*plan);
    rep.kernel_release = rr.report.kernel_release;
    rep.kernel_hash = kernel_hash_of(rr.report.kernel);
    count_disk_requests(rr);
    auto obs = observe(rr, w);
    if (obs.step_ran && obs.exit_code != 0)
      disc.notes.push_back(fmt::format("the workload exits {} without any fault", obs.exit_code));
  }
  if (o.sites.function && !interrupted()) {
    std::optional<ErrorInjectionList> list;
    if (first) {
      list = error_injection_list_of(first->session->hello());
      if (!list) list = cached_error_injection_list(first->session->kernel());
    }
    std::map<std::string, std::string> injectable;
    if (list)
      for (auto& f : list->functions) injectable[f.function] = f.type;
    if (cold) {
      disc.notes.push_back("function discovery needs a warm VM; a scenario with disks explores its nth sites only");
    } else if (injectable.empty()) {
      disc.notes.push_back("the kernel's error-injection list is unknown: no function sites");
    } else {
      // The function tracer, filtered to the injectable functions and to the step's own process
      // and its children (function-fork), off until the agent starts the step.
      Session& s = *first->session;
      auto req = s.timeouts().request * 20;
      // set_ftrace_filter is given the functions by their line in available_filter_functions: by
      // name, each costs a match against every traceable function, 85 ms each under TCG (26 s for
      // the list); by index the whole list takes 30 ms. awk finds the lines (about 1 s).
      std::string setup = fmt::format(
          "cd {} && echo 0 > tracing_on && echo nop > current_tracer && echo > trace && echo > set_ftrace_filter && "
          "idx=$(awk 'NR==FNR{{a[$1];next}} ($1 in a){{print FNR}}' {} available_filter_functions) && "
          "echo $idx > set_ftrace_filter && echo 1 > options/function-fork && echo function > current_tracer && "
          "wc -l < set_ftrace_filter",
          kTracing, kErrorInjectionListPath);
      auto filtered = guest_sh(s, setup, req);
      if (!filtered) {
        disc.notes.push_back("cannot set up the function tracer: " + filtered.error().message);
      } else {
        // The agent points the tracer at the step's pid and switches it on at the step's first
        // instruction, so nothing but the step (and its children) is counted.
        auto plan = plan_text(o, scenario_toml(w, std::nullopt, true));
        if (plan)
          for (auto& sp : plan->steps)
            if (plan->step_spec(sp).name == w.step) sp.ftrace_pid = kTracing;
        if (!plan) return plan.error();
        auto rr = run_warm(*first, *plan);
        if (rr.end.how == RunEnd::How::Completed) {
          auto trace = guest_sh(s, fmt::format("echo 0 > {0}/tracing_on && cat {0}/trace", kTracing), req);
          if (trace) {
            disc.functions = count_traced_calls(*trace, injectable);
            disc.functions_traced = true;
          } else {
            disc.notes.push_back("cannot read the function trace: " + trace.error().message);
          }
          (void)guest_sh(s,
                         fmt::format("cd {} && echo nop > current_tracer && echo > set_ftrace_filter && echo > "
                                     "set_ftrace_pid && echo 0 > options/function-fork && echo > trace",
                                     kTracing),
                         req);
        } else {
          disc.notes.push_back("the traced run did not complete: " + (rr.end.error ? rr.end.error->message : rr.report.error));
        }
        if (rr.vm_lost)
          if (auto st = replace_first(rr.replace_reason); !st) return st.error();
      }
    }
  }
  disc.wall_s = seconds_since(d0);
  std::string block_note;
  for (auto& d : disc.disks) block_note += fmt::format(", disk {}: {} block requests", d.disk, d.requests());
  progress("explore: discovery {:.1f} s: {} fail-nth sites, {} injectable functions reached{}", disc.wall_s,
           disc.nth_sites, disc.functions.size(), block_note);

  // ---- one run per site, on up to `jobs` warm VMs ----
  std::vector<Site> sites = enumerate_sites(disc, o.sites);
  std::vector<std::optional<ExploreRun>> results(sites.size());
  Pool pool;
  pool.stats = rep.vms;
  for (auto oc : kOutcomes) pool.counts[oc] = 0;
  bool over_budget = false;
  auto worker = [&](std::optional<WarmVm> vm) {
    while (!interrupted()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        std::lock_guard lock(pool.mu);
        over_budget = true;
        break;
      }
      std::size_t i = pool.next.fetch_add(1);
      if (i >= sites.size()) break;
      RunResult rr;
      auto plan = plan_text(o, scenario_toml(w, sites[i], true));
      if (!plan) {
        rr.end = {RunEnd::How::Error, plan.error()};
        rr.report.error = plan.error().message;
      } else if (cold) {
        rr = run_cold(*plan);
      } else {
        if (!vm) {
          auto booted = boot_warm_vm(so, base_plan->scenario.trace_events);
          if (!booted) {
            rr.end = {RunEnd::How::Error, booted.error()};
            rr.report.error = booted.error().message;
          } else {
            vm = std::move(*booted);
            std::lock_guard lock(pool.mu);
            ++pool.stats.booted;
            pool.stats.boot_s.push_back(vm->boot_s);
          }
        }
        if (vm) rr = run_warm(*vm, *plan);
      }
      ExploreRun run = make_run(static_cast<int>(i) + 1, sites[i], rr, w);
      write_run_evidence(run, rr, o.out);
      bool lost = vm && rr.vm_lost;
      if (lost) {
        drop_vm(vm);  // QEMU goes now; the next site boots a fresh VM
        if (!interrupted()) progress("explore: run {} ({}): VM replaced: {}", run.id, run.site.label(), rr.replace_reason);
      }
      std::lock_guard lock(pool.mu);
      if (lost && !interrupted()) ++pool.stats.replaced;
      if (!cold && rr.end.how == RunEnd::How::Completed && !lost)
        pool.stats.run_overhead_s.push_back(std::max(0.0, rr.wall_s - rr.workload_s));
      ++pool.done;
      pool.run_seconds += rr.wall_s;
      ++pool.counts[run.outcome];
      double eta = pool.run_seconds / static_cast<double>(pool.done) *
                   static_cast<double>(sites.size() - pool.done) / std::max(1, o.jobs);
      if (o.on_progress) o.on_progress(progress_line(pool.done, sites.size(), run, pool.counts, eta));
      results[i] = std::move(run);
    }
    drop_vm(vm);
  };
  {
    std::vector<std::thread> threads;
    int jobs = std::max(1, std::min<int>(o.jobs, static_cast<int>(std::max<std::size_t>(1, sites.size()))));
    std::optional<WarmVm> handed = std::move(first);
    first.reset();
    for (int j = 0; j < jobs; ++j) {
      threads.emplace_back(worker, j == 0 ? std::move(handed) : std::optional<WarmVm>());
    }
    for (auto& t : threads) t.join();
    set_vm_phase(true);
  }
  rep.vms = pool.stats;
  for (std::size_t i = 0; i < sites.size(); ++i) {
    if (results[i]) {
      rep.runs.push_back(std::move(*results[i]));
      continue;
    }
    ExploreRun nr;
    nr.id = static_cast<int>(i) + 1;
    nr.site = sites[i];
    nr.outcome = Outcome::NotRun;
    nr.detail = interrupted() ? "not run: interrupted" : "not run: over --budget";
    rep.runs.push_back(std::move(nr));
  }
  rep.groups = group_runs(rep.runs);
  if (!o.emit_dir.empty()) {
    fs::create_directories(o.emit_dir, ec);
    for (auto& run : rep.runs) {
      if (!interesting(run.outcome)) continue;
      fs::path file = o.emit_dir / fmt::format("{}-{}.toml", run.id, run.site.slug());
      std::string header = fmt::format(
          "Written by `faultbox explore`: run {} ({}) came out {}{}.\n{}\nReproduce with: faultbox run {}", run.id,
          run.site.label(), to_string(run.outcome), run.title.empty() ? "" : ": " + run.title, run.detail,
          file.filename().string());
      if (write_file_atomic(file, scenario_toml(w, run.site, false, header))) {
        auto abs_out = fs::weakly_canonical(o.out, ec), abs_file = fs::weakly_canonical(file, ec);
        auto rel = abs_file.lexically_relative(abs_out);
        run.scenario = !rel.empty() && rel.begin()->string() != ".." ? rel.string() : abs_file.string();
      }
    }
  }
  rep.complete = !interrupted() && !over_budget;
  rep.stopped_because = interrupted() ? "interrupted" : over_budget ? "over --budget" : "";
  rep.wall_s = seconds_since(t0);
  FB_TRY(write_explore_report(rep, o.out));
  return rep;
}

}  // namespace fb
