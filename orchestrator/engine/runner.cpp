#include "orchestrator/engine/runner.h"

#include "common/clock.h"
#include "common/fd.h"
#include "common/temp_dir.h"
#include "orchestrator/core/log.h"
#include "orchestrator/core/printable.h"
#include "orchestrator/engine/fault_ledger.h"
#include "orchestrator/vm/diagnosis.h"
#include "protocol/protocol.h"

#include <csignal>
#include <unistd.h>

namespace fb {

namespace {
// What a run keeps of one step's output; a step that prints forever cannot grow the host.
constexpr std::size_t kMaxStepOutputBytes = 16 << 20;

// The OOM kill that explains a step ended by SIGKILL: the kernel names its victim, and only the
// step's own pid is known, so the step's pid if the victim, else the last kill in its window.
std::optional<OomKill> oom_kill_of_step(std::span<const KmsgRecord> window, long step_pid) {
  auto kills = find_oom_kills(window);
  if (kills.empty()) return std::nullopt;
  for (auto& k : kills)
    if (k.pid == step_pid) return k;
  return kills.back();
}

void check_step_expectations(const StepSpec& step, StepResult& sr) {
  if (step.expect_exit && sr.status.shell_code() != *step.expect_exit)
    sr.failures.push_back(fmt::format("exit {} (expected {})", sr.status.shell_code(), *step.expect_exit));
  for (auto& want : step.expect_stdout)
    if (sr.out.find(want) == std::string::npos) sr.failures.push_back("stdout lacks \"" + want + "\"");
  for (auto& want : step.expect_stderr)
    if (sr.err.find(want) == std::string::npos) sr.failures.push_back("stderr lacks \"" + want + "\"");
}
}  // namespace

// A step in flight: its armed faults, its request and what it printed. Heap-allocated so the
// output sink of a background step keeps a stable address.
struct Runner::StepRun {
  const StepPlan* plan = nullptr;
  const StepSpec* step = nullptr;
  std::size_t first_record = 0;
  StepArming arming;
  ExecRequest req;
  StepResult sr;
  bool out_cut = false, err_cut = false;
  std::chrono::steady_clock::time_point started;
  std::uint32_t channel = 0;
  // Page-fault livelock watch (see watch_for_page_fault_livelock): how far the log was read, how
  // often the kernel said it retried a page fault, and the fault that cannot let it end.
  std::size_t livelock_scanned = 0;
  int page_fault_retries = 0;
  std::string livelock_fault;  // the name of the fault that cannot let it end; empty: not watched
  bool livelocked = false;

  OutputSink sink(bool follow) {
    return [this, follow](proto::Stream s, std::string_view d) {
      if (s == proto::Stream::Stderr) append_capped(sr.err, d, kMaxStepOutputBytes, err_cut);
      else append_capped(sr.out, d, kMaxStepOutputBytes, out_cut);
      if (follow) {  // shown live to a person: the guest's escape sequences must not reach the terminal
        std::string shown = printable(d, std::string::npos, TextLayout::Lines);
        write_all(s == proto::Stream::Stderr ? 2 : 1, shown.data(), shown.size());
      }
    };
  }
  void clear_output() {
    sr.out.clear();
    sr.err.clear();
    out_cut = err_cut = false;
  }
};

Runner::Runner(Session& session, RunnerOptions opts) : s_(session), opts_(opts), log_(opts.follow) {}

Status Runner::attach(const std::vector<std::string>& trace_events) { return log_.follow(s_.agent(), trace_events); }

Result<std::unique_ptr<Runner::StepRun>> Runner::prepare(const RunPlan& plan, const StepPlan& sp, FaultLedger& ledger,
                                                         std::chrono::steady_clock::time_point plan_start) {
  auto run = std::make_unique<StepRun>();
  const StepSpec& step = plan.step_spec(sp);
  run->plan = &sp;
  run->step = &step;
  run->first_record = log_.size();
  run->sr.name = step.name;
  if (!step.snapshot.empty()) {
    auto files = s_.agent().read_files(step.snapshot);
    if (!files) return files.error();
    for (auto& p : step.snapshot) run->sr.snapshots.push_back({p, (*files)[p], ""});
  }
  auto arming = ledger.arm(sp);
  if (!arming) return arming.error();
  run->arming = std::move(*arming);
  ExecRequest& req = run->req;
  for (auto& [fi, h] : run->arming.armed) req.faults.push_back(h.handle);
  req.argv = step.argv;
  req.env = run->arming.env;
  req.make_it_fail = run->arming.needs_task_mark && step.mark_task;
  req.aim_self = !step.mark_task;
  req.ftrace_pid = sp.ftrace_pid;
  req.on_timeout = [this] { hang_evidence_ = collect_hang_evidence(s_.vm(), s_.agent(), s_.timeouts()); };
  // A step without its own limit gets what is left of the run's; a wedged step ends as a hang.
  auto left = plan.run_timeout - std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - plan_start);
  req.timeout = step.timeout.count() > 0 ? std::min(step.timeout, left) : left;
  if (req.timeout.count() <= 0) {
    ledger.disarm(run->arming);
    return make_error(ErrorKind::Timeout, "the run exceeded [vm] timeout before step {}", step.name);
  }
  watch_for_page_fault_livelock(plan, *run);
  if (opts_.follow) progress("step {}: running {}{}", step.name, step.argv.back(), step.background ? " (background)" : "");
  run->started = std::chrono::steady_clock::now();
  return run;
}

namespace {
// The kernel's words when a page fault failed with VM_FAULT_OOM outside a memcg OOM and is retried
// (mm/oom_kill.c pagefault_out_of_memory), rate-limited to 10 per 5 s.
constexpr std::string_view kPageFaultRetry = "VM_FAULT_OOM leaked out to the #PF handler";
// That many retries of a marked step under a fault that fails every call without limit: the
// first burst of the rate limit, so the step is stopped within about a second.
constexpr int kLivelockRetries = 10;
}  // namespace

// A marked step under a task-filtered fault with probability 100 and no `times` limit has its own
// page faults' allocations failed, and the kernel retries such a fault forever: the step can
// never progress (measured: 109,242 injections in 10 minutes, then the run's timeout). The
// kernel says so in its log; after kLivelockRetries of those lines the step is stopped.
void Runner::watch_for_page_fault_livelock(const RunPlan& plan, StepRun& run) {
  if (!run.req.make_it_fail) return;
  for (auto& [fi, handle] : run.arming.armed) {
    const auto& p = plan.arm_requests[fi]["params"];
    if (p.value("task_filter", false) && p.value("probability", 0) == 100 && p.value("times", 0) < 0)
      run.livelock_fault = plan.fault(fi).name;
  }
  if (run.livelock_fault.empty()) return;
  run.livelock_scanned = log_.size();
  run.req.abandon = [this, &run] {
    for (auto& rec : log_.since(run.livelock_scanned))
      if (rec.text.find(kPageFaultRetry) != std::string::npos) ++run.page_fault_retries;
    run.livelock_scanned = log_.size();
    run.livelocked = run.page_fault_retries >= kLivelockRetries;
    return run.livelocked;
  };
}

std::string Runner::livelock_explanation(const StepRun& run) const {
  return fmt::format("page-fault livelock: the kernel retried the step's own page faults ({} \"{}\" lines) because "
                     "fault {} (probability 100, no times limit) fails the allocations under them, so the step could "
                     "never progress; faultbox stopped it after {:.1f} s. Set mark_task = false and mark only the call "
                     "under test (echo 1 > /proc/self/make-it-fail right before it), or limit the fault with `times`",
                     run.page_fault_retries, kPageFaultRetry, run.livelock_fault, seconds_since(run.started));
}

Result<ExecResult> Runner::run_foreground(const RunPlan& plan, StepRun& run, FaultLedger& ledger) {
  if (!run.plan->fail_nth) {
    run.clear_output();
    return s_.agent().exec(run.req, run.sink(opts_.follow));
  }
  std::size_t fi = *run.plan->fail_nth;
  ++ledger.result(fi).armed;
  return run_fail_nth(plan.fault(fi), ledger.result(fi), run);
}

// fail_nth: the step runs with /proc/<pid>/fail-nth = N, so the Nth fault site its process
// reaches fails, whatever the fault type. One run with `nth`, or a sweep (syzkaller's fail-nth
// loop): N = 1, 2, ... until a run ends before reaching its Nth site, i.e. every site the command
// passes has been failed once. Each run's outcome and injected site go into the report; the
// last run is the step's result.
Result<ExecResult> Runner::run_fail_nth(const FaultSpec& f, FaultResult& fr, StepRun& run) {
  bool sweep = f.params.value("sweep", false);
  unsigned first = static_cast<unsigned>(f.params.value("nth", 1));
  unsigned last = sweep ? first + static_cast<unsigned>(f.params.value("sweep_max", 1000)) - 1 : first;
  Result<ExecResult> res = make_error(ErrorKind::Infra, "fail_nth: no run");
  for (unsigned n = first; n <= last; ++n) {
    run.req.fail_nth = n;
    std::size_t from = log_.size();
    run.clear_output();
    res = s_.agent().exec(run.req, run.sink(opts_.follow));
    if (!res) {
      Error e = res.error();
      e.message = fmt::format("with fail-nth {}: {}", n, e.message);
      return e;
    }
    log_.sync(s_.agent());
    bool injected = res->fail_nth_left && *res->fail_nth_left == 0;
    NthRun nr{n, injected, res->status, "", "", res->fail_nth_left};
    for (auto& inj : find_injections(log_.since(from))) {
      ++fr.logged;
      auto sig = inj.stack_signature();
      if (nr.site.empty()) nr.site = inj.fault + (sig.empty() ? "" : ": " + sig);
      add_stack(fr, sig);
    }
    nr.stderr_line = run.sr.err.substr(0, std::min<std::size_t>(run.sr.err.find('\n'), 200));
    if (injected) ++fr.fired;
    fr.nth_runs.push_back(std::move(nr));
    if (!injected) break;  // the command ended before its Nth site: the sweep has covered them all
  }
  if (sweep && fr.nth_runs.back().injected)
    fr.notes.push_back(fmt::format("sweep stopped at sweep_max: nth {} still reached a fault site", last));
  return res;
}

std::optional<RunEnd> Runner::settle(StepRun& run, FaultLedger& ledger, Result<ExecResult> res, RunReport& r) {
  StepResult& sr = run.sr;
  sr.seconds = seconds_since(run.started);
  // Wait for the kernel log up to the disarm, then credit the injections it holds to the faults
  // armed for this step.
  log_.wait_for(s_.agent(), ledger.disarm(run.arming));
  if (res && !sr.snapshots.empty()) {
    std::vector<std::string> paths;
    for (auto& snap : sr.snapshots) paths.push_back(snap.path);
    if (auto files = s_.agent().read_files(paths))
      for (auto& snap : sr.snapshots) snap.after = (*files)[snap.path];
  }
  ledger.credit_log(run.arming, log_.since(run.first_record));
  if (!res) {
    r.steps.push_back(sr);
    return end_early(*run.step, res.error(), r);
  }
  sr.status = res->status;
  sr.finished = true;
  if (run.livelocked) {  // stopped by faultbox: its exit status and expectations say nothing more
    sr.status = ExitStatus{-1, SIGKILL};
    sr.failures.push_back(livelock_explanation(run));
    r.steps.push_back(std::move(sr));
    return std::nullopt;
  }
  if (sr.status.signal == SIGKILL) sr.oom_killed = oom_kill_of_step(log_.since(run.first_record), res->pid);
  check_step_expectations(*run.step, sr);
  r.steps.push_back(std::move(sr));
  return std::nullopt;
}

// A step that could not finish: the VM is asked why (a crash report, or hang evidence).
RunEnd Runner::end_early(const StepSpec& step, Error e, RunReport& r) {
  healthy_ = false;
  Vm& vm = s_.vm();
  e.message = "step " + step.name + ": " + e.message;
  if (e.kind == ErrorKind::Boot || vm.exit_info()) {
    if (auto crash = diagnose_vm_end(vm, s_.timeouts())) {
      r.crash_title = crash->title;
      r.crash_report = crash->report;
      return {RunEnd::How::KernelCrash, make_error(e.kind, "kernel crash during step {}: {}", step.name, r.crash_title)};
    }
  }
  if (e.kind != ErrorKind::Timeout) return {RunEnd::How::Error, e};
  auto d = diagnose_hang(vm.console(), log_.text());
  r.blocked_tasks = d.blocked_tasks;
  r.hang_evidence = hang_evidence_;
  std::string names;
  for (auto& t : r.blocked_tasks) names += (names.empty() ? "" : ", ") + t;
  e.message += names.empty() ? "; sysrq-w shows no task in D state" : "; blocked in D state: " + names;
  // A lockup or hung-task report the kernel printed itself names the hang.
  if (d.kernel_report) {
    r.crash_title = d.kernel_report->title;
    r.crash_report = d.kernel_report->report;
    e.message += "; the kernel reported: " + r.crash_title;
  }
  return {RunEnd::How::Hang, e};
}

RunEnd Runner::run(const RunPlan& plan, RunReport& r) {
  auto plan_start = std::chrono::steady_clock::now();
  // The first plan on a VM owns the boot messages too; each later one starts where the last ended.
  std::size_t first_record = plan_log_start_;
  hang_evidence_.clear();
  FaultLedger ledger(plan, s_.agent());
  auto finish = [&](RunEnd end) {
    bool cut_short = end.how != RunEnd::How::Completed;
    r.faults = ledger.results(cut_short);
    r.kmsg = log_.text(first_record);
    plan_log_start_ = log_.size();
    r.trace = log_.trace();
    if (auto w = log_.cap_warning(); !w.empty()) r.warnings.push_back(w);
    return end;
  };
  // The booted kernel's own list, for kernels whose list was not known before boot.
  if (auto list = error_injection_list_of(s_.hello()))
    if (auto e = find_uninjectable_fault(plan.scenario, *list)) return finish({RunEnd::How::Error, *e});

  std::vector<std::unique_ptr<StepRun>> background;
  for (auto& sp : plan.steps) {
    auto run = prepare(plan, sp, ledger, plan_start);
    if (!run) {
      healthy_ = healthy_ && run.error().kind != ErrorKind::Timeout;
      return finish({run.error().kind == ErrorKind::Timeout ? RunEnd::How::Hang : RunEnd::How::Error, run.error()});
    }
    StepRun& sr = **run;
    if (plan.step_spec(sp).background) {
      // Runs alongside the steps that follow; waited for after the last of them.
      auto ch = s_.agent().start_exec(sr.req, sr.sink(opts_.follow));
      if (!ch) {
        if (auto end = settle(sr, ledger, ch.error(), r)) return finish(*end);
        continue;
      }
      sr.channel = *ch;
      background.push_back(std::move(*run));
      continue;
    }
    auto res = run_foreground(plan, sr, ledger);
    if (auto end = settle(sr, ledger, std::move(res), r)) return finish(*end);
  }
  for (auto& run : background)
    if (auto end = settle(*run, ledger, s_.agent().wait_exec(run->channel, run->req), r)) return finish(*end);
  return finish({RunEnd::How::Completed, std::nullopt});
}

namespace {

// The VM's disks: a fresh qcow2 overlay per disk in the run's private temp dir, on top of the
// prepared image in the cache (made through libguestfs when missing) or the scenario's base
// image, so neither is ever written. The overlays stay until the post-run inspection.
Result<std::vector<DiskSpec>> make_disks(const Scenario& sc, const TempDir& dir) {
  auto prepared = prepare_disks(sc.disks);
  if (!prepared) return prepared.error();
  std::vector<DiskSpec> out;
  for (std::size_t i = 0; i < sc.disks.size(); ++i) {
    auto overlay = dir.path() / (sc.disks[i].name + ".qcow2");
    FB_TRY(create_overlay((*prepared)[i].image, (*prepared)[i].format, overlay));
    out.push_back({overlay, "qcow2", sc.disks[i].serial, false, *disk_bus_named(sc.disks[i].bus)});
  }
  return out;
}

// [expect.disk.NAME]: read-only through libguestfs, on the overlays this run wrote, also after a
// crash or a hang: what the guest had not written back by then is what a power cut would have
// lost, and that is the question after such a run.
Status inspect(const Scenario& sc, const TempDir& disk_dir, RunReport& r) {
  std::vector<DiskToInspect> todo;
  for (auto& disk : sc.disks)  // in [[disk]] order
    for (auto& want : sc.expect.disks)
      if (want.disk == disk.name) todo.push_back({&disk, &want, disk_dir.path() / (disk.name + ".qcow2")});
  auto found = inspect_disks(todo);
  if (!found) {
    Error e = found.error();
    e.message = "inspecting the disks: " + e.message;
    return e;
  }
  for (auto& d : *found) r.disks.push_back(std::move(d));
  return {};
}

// Boots, runs the plan and shuts the VM down; the VM is gone when it returns, so the disks can
// be read. `booted` says whether the guest came up (only then are its disks worth reading).
RunEnd run_in_vm(const RunPlan& plan, const RunnerOptions& opts, std::vector<DiskSpec> disks, RunReport& r,
                 bool& booted) {
  SessionOptions so = plan.vm;
  so.disks = std::move(disks);
  auto session = Session::boot(so);
  if (!session) return {RunEnd::How::Error, session.error()};
  booted = true;
  r.backend = (*session)->backend_name();
  r.kernel_release = (*session)->hello().kernel_release;
  r.kernel = (*session)->kernel();
  Runner runner(**session, opts);
  RunEnd end{RunEnd::How::Completed, std::nullopt};
  if (auto st = runner.attach(plan.scenario.trace_events); !st) {
    Error e = st.error();
    e.message = plan.scenario.file.string() + ": " + e.message;
    end = {RunEnd::How::Error, e};
  } else {
    end = runner.run(plan, r);
  }
  if (end.how == RunEnd::How::Completed) (void)(*session)->shutdown();
  r.console = (*session)->vm().console();
  r.host_log = (*session)->vm().host_log();
  return end;
}

}  // namespace

RunReport run_plan(const RunPlan& plan, const RunnerOptions& opts) {
  const Scenario& sc = plan.scenario;
  RunReport r;
  r.scenario = sc.name;
  r.file = sc.file.string();
  auto t0 = std::chrono::steady_clock::now();
  auto done = [&](const RunEnd& end) {
    judge(r, sc, end);
    r.seconds = seconds_since(t0);
    return r;
  };
  auto root = runtime_root();
  if (!root) return done({RunEnd::How::Error, root.error()});
  auto disk_dir = TempDir::create(*root, "disks-", /*janitor=*/true);
  if (!disk_dir) return done({RunEnd::How::Error, disk_dir.error()});
  auto disks = make_disks(sc, *disk_dir);
  if (!disks) return done({RunEnd::How::Error, disks.error()});
  bool booted = false;
  RunEnd end = run_in_vm(plan, opts, std::move(*disks), r, booted);
  bool guest_ended_it = end.how != RunEnd::How::Error;
  if (booted && guest_ended_it && !sc.expect.disks.empty())
    if (auto st = inspect(sc, *disk_dir, r); !st) end = {RunEnd::How::Error, st.error()};
  return done(end);
}

}  // namespace fb
