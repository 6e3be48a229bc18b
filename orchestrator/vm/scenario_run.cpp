#include "orchestrator/vm/scenario_run.h"

#include "common/clock.h"
#include "common/fd.h"
#include "common/temp_dir.h"
#include "orchestrator/core/crash_report.h"
#include "orchestrator/core/error_injection.h"
#include "orchestrator/core/kmsg.h"
#include "orchestrator/core/log.h"
#include "orchestrator/disks/disk_image.h"
#include "orchestrator/vm/session.h"
#include "protocol/protocol.h"

#include <fcntl.h>
#include <set>
#include <unistd.h>

namespace fb {

using nlohmann::json;

namespace {

// What a run keeps of the guest's output, so a guest that floods its log or a step that prints
// forever cannot grow the orchestrator without bound (seen: a task looping in its page faults
// logged for 90 minutes and the host process reached 12 GB). Counters stay exact regardless.
constexpr std::size_t kMaxKmsgBytes = 32 << 20;
constexpr std::size_t kMaxStepOutputBytes = 16 << 20;

void append_capped(std::string& to, std::string_view d, std::size_t cap, bool& truncated) {
  if (to.size() + d.size() <= cap) {
    to.append(d);
  } else if (!truncated) {
    to.append(d.substr(0, cap - std::min(cap, to.size())));
    to.append("\n[faultbox: output truncated here]\n");
    truncated = true;
  }
}

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

// "faultbox.disk=NAME:SERIAL" per disk: the agent waits for these serials to appear (a SCSI or
// ATA disk is probed after its controller) and resolves disk:NAME and FAULTBOX_DISK_<NAME> by them.
std::string disk_cmdline(const Scenario& sc) {
  std::string out;
  for (auto& d : sc.disks) out += fmt::format(" {}{}:{}", proto::kDiskCmdlineParam, d.name, d.serial);
  return out;
}

std::string kmsg_text(const std::vector<KmsgRecord>& records) {
  std::string out;
  for (auto& rec : records) out += rec.line() + "\n";
  return out;
}

// FAULTBOX_FAULT_<NAME>_<KEY>=value for each string or number the agent reported when arming
// (e.g. the device a dm or scsi_debug fault created), so steps need not guess device names.
void add_fault_env(std::map<std::string, std::string>& env, const std::string& fault, const json& info) {
  auto upper = [](const std::string& s) {
    std::string o;
    for (char c : s) o.push_back(isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(toupper(c)) : '_');
    return o;
  };
  for (auto& [k, v] : info.items()) {
    if (v.is_string()) env["FAULTBOX_FAULT_" + upper(fault) + "_" + upper(k)] = v.get<std::string>();
    else if (v.is_number()) env["FAULTBOX_FAULT_" + upper(fault) + "_" + upper(k)] = v.dump();
  }
}

// Fault knobs the kernel reads only when a driver initialises become kernel parameters:
// scsi_debug's dev_size_mb, null_blk's timeout and requeue fault attributes (6.1 has no
// per-device or run-time knob for them). One value per run; they do nothing until a fault
// creates a device.
Result<std::string> init_time_cmdline(const Scenario& sc) {
  struct Param {
    const char* type;
    const char* key;
    const char* kernel_param;
    std::string (*value)(std::int64_t);
  };
  // "<interval>,<probability>,<space>,<times>": every Nth request, no limit.
  auto every_nth = [](std::int64_t n) { return fmt::format("{},100,0,-1", n); };
  auto plain = [](std::int64_t n) { return std::to_string(n); };
  const Param params[] = {{"scsi_debug", "dev_size_mb", "scsi_debug.dev_size_mb", plain},
                          {"null_blk", "timeout_every", "null_blk.timeout", every_nth},
                          {"null_blk", "requeue_every", "null_blk.requeue", every_nth}};
  std::string out;
  for (auto& p : params) {
    const FaultSpec* first = nullptr;
    for (auto& f : sc.faults) {
      if (f.type != p.type || !f.params.contains(p.key)) continue;
      if (first && first->params[p.key] != f.params[p.key])
        return make_error(ErrorKind::Usage, "{}: {} {} differs from {} at {} (it becomes the kernel parameter {}: one value per run)",
                          f.where.str(), p.key, f.params[p.key].dump(), first->params[p.key].dump(), first->where.str(),
                          p.kernel_param);
      if (!first) out += fmt::format(" {}={}", p.kernel_param, p.value(f.params[p.key].get<std::int64_t>()));
      first = &f;
    }
  }
  return out;
}

bool armed_for(const FaultSpec& f, const std::string& step) {
  return f.steps.empty() || std::find(f.steps.begin(), f.steps.end(), step) != f.steps.end();
}

// Hang evidence, taken while the wedged work still exists: sysrq 9 (every level to the console),
// w (blocked tasks with their stacks), t (every task). Through the agent when it still answers,
// else through the VM's keyboard, which a wedged guest still services from its interrupt
// handler. Then the console gets time to receive it all.
std::string collect_hang_evidence(Session& s) {
  Vm& vm = s.vm();
  std::string how;
  if (!s.agent().agent_silent()) {
    auto rec = s.agent().sysrq("9wt");
    if (rec) how = "sysrq 9, w, t written by the agent";
  }
  if (how.empty()) {
    for (char key : {'9', 'w', 't'}) {
      auto st = vm.send_sysrq(key);
      if (!st) return "no sysrq evidence: " + st.error().message;
      vm.wait_exit(std::chrono::milliseconds(300));  // runs the event loop; the keys take turns
    }
    how = "Alt+SysRq 9, w, t pressed on the VM's keyboard (agent silent)";
  }
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + s.timeouts().evidence;
  std::size_t seen = vm.console().size();
  auto quiet_since = clock::now();
  while (clock::now() < deadline && !vm.exit_info()) {
    vm.wait_exit(std::chrono::milliseconds(200));
    if (vm.console().size() != seen) {
      seen = vm.console().size();
      quiet_since = clock::now();
    } else if (clock::now() - quiet_since > std::chrono::seconds(1)) {
      break;
    }
  }
  return how;
}

// Waits until the kernel log on the trace port has every record the agent had read by now.
// Waits (a bounded number of pings) until record `mark` has arrived on the trace port.
void wait_for_record(AgentClient& agent, const std::vector<KmsgRecord>& records, std::int64_t mark) {
  for (int i = 0; i < 100 && mark >= 0 && (records.empty() || static_cast<std::int64_t>(records.back().seq) < mark); ++i)
    (void)agent.ping();
}

void sync_kmsg(AgentClient& agent, const std::vector<KmsgRecord>& records) {
  if (auto mark = agent.kmsg_mark()) wait_for_record(agent, records, *mark);
}

// fail_nth: the step runs with /proc/<pid>/fail-nth = N, so the Nth fault site its process
// reaches fails, whatever the fault type. One run with `nth`, or a sweep (syzkaller's fail-nth
// loop): N = 1, 2, ... until a run ends before reaching its Nth site, i.e. every site the command
// passes has been failed once. Each run's outcome and injected site go into the report; the
// last run is the step's result.
template <typename ExecOnce, typename SyncKmsg>
Result<ExecResult> run_fail_nth(const FaultSpec& f, FaultResult& fr, ExecRequest& req, ExecOnce exec_once,
                                SyncKmsg sync, const std::vector<KmsgRecord>& records, StepResult& sr) {
  bool sweep = f.params.value("sweep", false);
  unsigned first = static_cast<unsigned>(f.params.value("nth", 1));
  unsigned last = sweep ? first + static_cast<unsigned>(f.params.value("sweep_max", 1000)) - 1 : first;
  Result<ExecResult> res = make_error(ErrorKind::Infra, "fail_nth: no run");
  for (unsigned n = first; n <= last; ++n) {
    req.fail_nth = n;
    std::size_t from = records.size();
    res = exec_once();
    if (!res) {
      Error e = res.error();
      e.message = fmt::format("with fail-nth {}: {}", n, e.message);
      return e;
    }
    std::size_t to = sync();
    bool injected = res->fail_nth_left && *res->fail_nth_left == 0;
    NthRun run{n, injected, res->status, "", ""};
    std::vector<KmsgRecord> during(records.begin() + static_cast<std::ptrdiff_t>(from),
                                   records.begin() + static_cast<std::ptrdiff_t>(to));
    for (auto& inj : find_injections(during)) {
      ++fr.logged;
      auto sig = inj.stack_signature();
      if (run.site.empty()) run.site = inj.fault + (sig.empty() ? "" : ": " + sig);
      if (!sig.empty() && std::find(fr.stacks.begin(), fr.stacks.end(), sig) == fr.stacks.end()) fr.stacks.push_back(sig);
    }
    std::string err = sr.err.substr(0, sr.err.find('\n'));
    run.stderr_line = err.substr(0, 200);
    if (injected) ++fr.fired;
    fr.nth_runs.push_back(std::move(run));
    if (!injected) break;  // the command ended before its Nth site: the sweep has covered them all
  }
  if (sweep && fr.nth_runs.back().injected)
    fr.notes.push_back(fmt::format("sweep stopped at sweep_max: nth {} still reached a fault site", last));
  return res;
}

// [expect] dmesg_contains / dmesg_not_contains. After a crash the kernel's last words may have
// reached only the serial console (the kernel log stream dies with the guest), so it counts too.
void check_dmesg(RunReport& r, const Scenario& sc, bool crashed) {
  auto logged = [&](const std::string& s) {
    return r.kmsg.find(s) != std::string::npos || (crashed && r.console.find(s) != std::string::npos);
  };
  for (auto& want : sc.expect.dmesg_contains)
    if (!logged(want)) r.failures.push_back("kernel log lacks \"" + want + "\"");
  for (auto& bad : sc.expect.dmesg_not_contains)
    if (logged(bad)) r.failures.push_back("kernel log contains \"" + bad + "\"");
}

void finish_verdict(RunReport& r, const Scenario& sc) {
  for (auto& s : r.steps)
    for (auto& f : s.failures) r.failures.push_back("step " + s.name + ": " + f);
  for (auto& f : r.faults) {
    if (f.fired == 0) r.warnings.push_back("fault " + f.name + " was armed but never fired");
    if (sc.expect.injected_min && f.fired < *sc.expect.injected_min)
      r.failures.push_back(fmt::format("fault {} fired {} time(s), expected at least {}", f.name, f.fired,
                                       *sc.expect.injected_min));
  }
  check_dmesg(r, sc, false);
  if (sc.expect.kernel == "crash") r.failures.push_back("expected a kernel crash, the kernel survived");
  r.verdict = r.failures.empty() ? "pass" : "fail";
  r.exit_code = r.failures.empty() ? 0 : 1;
}

}  // namespace

RunReport run_scenario(const Scenario& sc, const ScenarioRunOptions& opts) {
  RunReport r;
  r.scenario = sc.name;
  r.file = sc.file.string();
  auto t0 = std::chrono::steady_clock::now();
  auto done = [&](RunReport& rep) -> RunReport& {
    rep.seconds = seconds_since(t0);
    return rep;
  };
  auto fail_with = [&](const Error& e) -> RunReport& {
    r.error = e.message;
    switch (e.kind) {
      case ErrorKind::Usage: r.verdict = "usage-error"; r.exit_code = 2; break;
      case ErrorKind::Timeout: r.verdict = "hang"; r.exit_code = 4; break;
      case ErrorKind::Boot: r.verdict = "kernel-crash"; r.exit_code = 3; break;
      default: r.verdict = "infra-error"; r.exit_code = 5; break;
    }
    return done(r);
  };

  // Fault types this agent does not implement yet are refused before any boot work.
  for (auto& f : sc.faults) {
    static const std::set<std::string> kImplemented = {"failslab",        "fail_page_alloc", "fail_futex",
                                                       "fail_usercopy",   "fail_function",   "fail_make_request",
                                                       "fail_io_timeout", "fail_nth",        "dm_dust",
                                                       "dm_flakey",       "scsi_debug",      "null_blk",
                                                       "bpf_override"};
    if (!kImplemented.count(f.type))
      return fail_with(make_error(ErrorKind::Usage, "{}: fault type '{}' is not implemented by faultbox run yet",
                                  f.where.str(), f.type));
  }

  // fail-nth is one number per process: two such faults on one step cannot both hold.
  for (auto& step : sc.steps) {
    const FaultSpec* seen = nullptr;
    for (auto& f : sc.faults) {
      if (f.type != "fail_nth" || !armed_for(f, step.name)) continue;
      if (seen)
        return fail_with(make_error(ErrorKind::Usage, "{}: step '{}' already has fail_nth fault '{}' ({}); a process has one fail-nth",
                                    f.where.str(), step.name, seen->name, seen->where.str()));
      if (step.background)
        return fail_with(make_error(ErrorKind::Usage, "{}: fail_nth fault '{}' on background step '{}' ({}): fail-nth runs "
                                    "the step itself, in the foreground",
                                    f.where.str(), f.name, step.name, step.where.str()));
      seen = &f;
    }
  }
  // A function outside the kernel's error-injection list is refused before any boot work,
  // when the list of the kernel this run would boot is known (read from its vmlinux when
  // faultbox built it, or cached from an earlier boot).
  if (auto kernel = find_kernel(sc.vm.kernel); kernel && *kernel)
    if (auto list = cached_error_injection_list(**kernel))
      if (auto e = find_uninjectable_fault(sc, *list)) return fail_with(*e);

  auto root = runtime_root();
  if (!root) return fail_with(root.error());
  auto disk_dir = TempDir::create(*root, "disks-", /*janitor=*/true);
  if (!disk_dir) return fail_with(disk_dir.error());
  auto disks = make_disks(sc, *disk_dir);
  if (!disks) return fail_with(disks.error());

  // Everything that needs the VM; the VM is gone when it returns, so the disks can be read.
  bool booted = false, reached_end = false;
  auto in_vm = [&]() -> RunReport& {
    SessionOptions so;
    so.kernel = sc.vm.kernel;
    so.includes = sc.vm.include;
    so.memory_mb = sc.vm.memory_mb;
    so.cpus = sc.vm.cpus;
    so.accel = sc.vm.accel;
    so.disks = *disks;
    so.extra_cmdline = sc.vm.cmdline;
  so.root = sc.vm.root;
  so.root_size = sc.vm.root_size;
  if (so.root_size) so.root_size_origin = sc.vm.root_size_where.str() + ": [vm] root_size";
    if (sc.vm.panic_on_warn) so.extra_cmdline += (so.extra_cmdline.empty() ? "" : " ") + std::string("panic_on_warn=1");
    auto init_params = init_time_cmdline(sc);
    if (!init_params) return fail_with(init_params.error());
    so.extra_cmdline += *init_params;
  so.extra_cmdline += disk_cmdline(sc);
    auto session = Session::boot(so);
    if (!session) return fail_with(session.error());
    booted = true;
    AgentClient& agent = (*session)->agent();
    r.kernel_release = (*session)->hello().kernel_release;
    r.kernel = (*session)->kernel();

    std::vector<KmsgRecord> records;
    KmsgParser parser;
    std::size_t kmsg_bytes = 0, kmsg_dropped = 0;
    auto st = agent.follow_kmsg([&](std::string_view d) {
      std::size_t before = records.size();
      if (kmsg_bytes + d.size() > kMaxKmsgBytes) {
        ++kmsg_dropped;
        return;
      }
      kmsg_bytes += d.size();
      parser.feed(d, records);
      if (opts.follow)
        for (std::size_t i = before; i < records.size(); ++i) log_line(Verbosity::Quiet, "kmsg: " + records[i].line());
    });
    if (!st) return fail_with(st.error());

    // tracefs events: kept (capped like the kernel log) and, with --follow, shown line by line.
    std::string trace_partial;
    bool trace_cut = false;
    if (!sc.trace_events.empty()) {
      auto ts = agent.follow_trace_events(sc.trace_events, [&](std::string_view d) {
        append_capped(r.trace, d, kMaxKmsgBytes, trace_cut);
        if (!opts.follow) return;
        trace_partial.append(d);
        std::size_t pos;
        while ((pos = trace_partial.find('\n')) != std::string::npos) {
          log_line(Verbosity::Quiet, "trace: " + trace_partial.substr(0, pos));
          trace_partial.erase(0, pos + 1);
        }
      });
      if (!ts) {
        Error e = ts.error();
        e.message = sc.file.string() + ": " + e.message;
        return fail_with(e);
      }
    }

    // The booted kernel's own list, for kernels whose list was not known before boot.
    if (auto list = error_injection_list_of((*session)->hello()))
      if (auto e = find_uninjectable_fault(sc, *list)) return fail_with(*e);

    std::map<std::string, FaultResult> fault_results;
    std::set<std::string> undisarmed;  // faults whose disarm found no agent (a crash, a wedged guest)
    for (auto& f : sc.faults) fault_results[f.name] = FaultResult{f.name, f.type, 0, 0, {}};

    // A step in flight: its armed faults, its request and what it printed. Heap-allocated so the
    // output sink of a background step keeps a stable address.
    struct StepRun {
      const StepSpec* step = nullptr;
      std::size_t first_record = 0;
      std::vector<std::pair<const FaultSpec*, ArmedFault>> armed;
      ExecRequest req;
      StepResult sr;
      bool out_cut = false, err_cut = false;
      std::chrono::steady_clock::time_point started;
      std::uint32_t channel = 0;
    };
    auto sink_for = [&](StepRun& sr) {
      return [&sr, follow = opts.follow](proto::Stream s, std::string_view d) {
        if (s == proto::Stream::Stderr) append_capped(sr.sr.err, d, kMaxStepOutputBytes, sr.err_cut);
        else append_capped(sr.sr.out, d, kMaxStepOutputBytes, sr.out_cut);
        if (follow) write_all(s == proto::Stream::Stderr ? 2 : 1, d.data(), d.size());
      };
    };
    // Arms the step's faults and builds its request; an error ends the run.
    auto prepare = [&](const StepSpec& step) -> Result<std::unique_ptr<StepRun>> {
      auto run = std::make_unique<StepRun>();
      run->step = &step;
      run->first_record = records.size();
      run->sr.name = step.name;
      if (!step.snapshot.empty()) {
        auto files = agent.read_files(step.snapshot);
        if (!files) return files.error();
        for (auto& p : step.snapshot) run->sr.snapshots.push_back({p, (*files)[p], ""});
      }
      std::map<std::string, std::string> req_env;
      ExecRequest& req = run->req;
      bool mark = false;
      for (auto& f : sc.faults) {
        if (!armed_for(f, step.name) || f.type == "fail_nth") continue;  // fail_nth rides on the exec
        auto a = agent.arm({{"type", f.type}, {"name", f.name}, {"params", f.params}});
        if (!a) {
          for (auto& [spec, h] : run->armed) (void)agent.disarm(h.handle);
          Error e = a.error();
          e.message = f.where.str() + ": " + e.message;
          return e;
        }
        mark |= a->needs_task_mark;
        req.faults.push_back(a->handle);
        add_fault_env(req_env, f.name, a->info);
        run->armed.emplace_back(&f, *a);
      }
      req.argv = step.argv;
      req.env = req_env;
      req.make_it_fail = mark && step.mark_task;
      req.aim_self = !step.mark_task;
      req.on_timeout = [&] { r.hang_evidence = collect_hang_evidence(**session); };
      // A step without its own limit gets what is left of the run's; a wedged step ends as a hang.
      auto left = sc.vm.timeout - std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
      req.timeout = step.timeout.count() > 0 ? std::min(step.timeout, left) : left;
      if (req.timeout.count() <= 0) return make_error(ErrorKind::Timeout, "the run exceeded [vm] timeout");
      if (opts.follow) progress("step {}: running {}{}", step.name, step.argv.back(), step.background ? " (background)" : "");
      run->started = std::chrono::steady_clock::now();
      return run;
    };
    // Disarms the step's faults, credits what fired, and judges the step; a step that could not
    // finish (crash, hang, VM gone) ends the run with the matching verdict.
    auto settle = [&](StepRun& run, Result<ExecResult> res) -> std::optional<RunReport*> {
      const StepSpec& step = *run.step;
      StepResult& sr = run.sr;
      sr.seconds = seconds_since(run.started);
      // disarm and count, even when the step failed to run
      std::int64_t last_record = -1;
      for (auto& [spec, h] : run.armed) {
        auto c = agent.disarm(h.handle);
        if (!c) {
          undisarmed.insert(spec->name);
          continue;
        }
        auto& fr = fault_results[spec->name];
        fr.fired += c->value("fired", 0);
        for (auto& [k, v] : c->items()) {
          if (k == "fired" || k == "times_left" || k == "kmsg_record") continue;
          if (k == "eligible") {  // bpf_override: calls by the aimed-at tasks, before the probability draw
            fr.eligible = std::max<std::int64_t>(fr.eligible, 0) + v.get<std::int64_t>();
            continue;
          }
          if (k == "stacks" && v.is_array()) {  // collected by the agent (tracefs, a BPF stack map), not logged by the kernel
            for (auto& sig : v)
              if (sig.is_string() && std::find(fr.stacks.begin(), fr.stacks.end(), sig) == fr.stacks.end())
                fr.stacks.push_back(sig);
            continue;
          }
          if (v.is_number_integer() && fr.details.contains(k) && fr.details[k].is_number_integer())
            fr.details[k] = fr.details[k].get<std::int64_t>() + v.get<std::int64_t>();
          else
            fr.details[k] = v;
        }
        last_record = std::max<std::int64_t>(last_record, c->value("kmsg_record", -1LL));
      }
      // Wait for the kernel log up to the disarm, then credit the injections it holds to the
      // faults armed for this step (fail_function's log says only "fail_function", not which).
      wait_for_record(agent, records, last_record);
      if (res && !sr.snapshots.empty()) {
        std::vector<std::string> paths;
        for (auto& snap : sr.snapshots) paths.push_back(snap.path);
        if (auto files = agent.read_files(paths))
          for (auto& snap : sr.snapshots) snap.after = (*files)[snap.path];
      }
      std::vector<KmsgRecord> during(records.begin() + static_cast<std::ptrdiff_t>(run.first_record), records.end());
      for (auto& inj : find_injections(during)) {
        for (auto& [spec, h] : run.armed) {
          auto& fr = fault_results[spec->name];
          if (fr.type != inj.fault) continue;
          ++fr.logged;
          auto sig = inj.stack_signature();
          if (!sig.empty() && std::find(fr.stacks.begin(), fr.stacks.end(), sig) == fr.stacks.end())
            fr.stacks.push_back(sig);
        }
      }
      if (!res) {
        r.steps.push_back(sr);
        // The run ends here: report the faults with what is known. A fault the guest took down
        // with it was never disarmed, so its count is what the kernel log showed.
        for (auto& f : sc.faults) {
          FaultResult fr = fault_results[f.name];
          if (undisarmed.count(f.name)) {
            fr.fired = std::max(fr.fired, fr.logged);
            fr.notes.push_back("the run ended before this fault was disarmed: fired counts the injections the kernel "
                               "log showed");
          }
          r.faults.push_back(std::move(fr));
        }
        Error e = res.error();
        if (e.kind == ErrorKind::Timeout) e.message = "step " + step.name + ": " + e.message;
        if (e.kind == ErrorKind::Boot) e.message = "step " + step.name + ": " + e.message;
        r.kmsg = kmsg_text(records);
        if (e.kind == ErrorKind::Boot) (*session)->vm().wait_exit(std::chrono::seconds(5));
        r.console = (*session)->vm().console();
        r.host_log = (*session)->vm().host_log();
        if (e.kind == ErrorKind::Timeout) {
          r.blocked_tasks = blocked_tasks(r.console);
          if (r.blocked_tasks.empty()) r.blocked_tasks = blocked_tasks(r.kmsg);
          std::string names;
          for (auto& t : r.blocked_tasks) names += (names.empty() ? "" : ", ") + t;
          e.message += names.empty() ? "; sysrq-w shows no task in D state" : "; blocked in D state: " + names;
          // A lockup or hung-task report the kernel printed itself names the hang.
          if (auto scan = scan_console(r.console); scan.crash) {
            r.crash_title = scan.crash->title;
            r.crash_report = scan.crash->report;
            e.message += "; the kernel reported: " + r.crash_title;
          }
        }
        if ((*session)->vm().exit_info()) {
          auto scan = scan_console(r.console);
          if (scan.crash) {
            r.crash_title = scan.crash->title;
            r.crash_report = scan.crash->report;
            r.error = "kernel crash during step " + step.name + ": " + r.crash_title;
            bool expected = sc.expect.kernel == "crash";
            r.verdict = expected ? "pass" : "kernel-crash";
            r.exit_code = expected ? 0 : 3;
            return &done(r);
          }
        }
        return &fail_with(e);
      }
      sr.status = res->status;
      sr.finished = true;
      if (step.expect_exit && res->status.shell_code() != *step.expect_exit)
        sr.failures.push_back(fmt::format("exit {} (expected {})", res->status.shell_code(), *step.expect_exit));
      for (auto& want : step.expect_stdout)
        if (sr.out.find(want) == std::string::npos) sr.failures.push_back("stdout lacks \"" + want + "\"");
      for (auto& want : step.expect_stderr)
        if (sr.err.find(want) == std::string::npos) sr.failures.push_back("stderr lacks \"" + want + "\"");
      r.steps.push_back(std::move(sr));
      return std::nullopt;
    };

    std::vector<std::unique_ptr<StepRun>> background;
    for (auto& step : sc.steps) {
      auto run = prepare(step);
      if (!run) return fail_with(run.error());
      StepRun& sr = **run;
      if (step.background) {
        // Runs alongside the steps that follow; waited for after the last of them.
        auto ch = agent.start_exec(sr.req, sink_for(sr));
        if (!ch) {
          if (auto end = settle(sr, ch.error())) return **end;
          continue;
        }
        sr.channel = *ch;
        background.push_back(std::move(*run));
        continue;
      }
      const FaultSpec* nth_fault = nullptr;
      for (auto& f : sc.faults)
        if (f.type == "fail_nth" && armed_for(f, step.name)) nth_fault = &f;
      Result<ExecResult> res = make_error(ErrorKind::Infra, "step not run");
      auto exec_once = [&]() {
        sr.sr.out.clear();
        sr.sr.err.clear();
        sr.out_cut = sr.err_cut = false;
        return agent.exec(sr.req, sink_for(sr));
      };
      if (!nth_fault) {
        res = exec_once();
      } else {
        res = run_fail_nth(*nth_fault, fault_results[nth_fault->name], sr.req, exec_once, [&] {
          sync_kmsg(agent, records);
          return records.size();
        }, records, sr.sr);
      }
      if (auto end = settle(sr, std::move(res))) return **end;
    }
    for (auto& run : background) {
      if (auto end = settle(*run, agent.wait_exec(run->channel, run->req))) return **end;
    }
    for (auto& f : sc.faults) r.faults.push_back(fault_results[f.name]);
    if (kmsg_dropped)
      r.warnings.push_back(fmt::format("kernel log kept only its first {} MiB; {} later chunks dropped (stacks after "
                                       "that are missing, fired counts are exact)",
                                       kMaxKmsgBytes >> 20, kmsg_dropped));
    r.kmsg = kmsg_text(records);
    r.console = (*session)->vm().console();
    r.host_log = (*session)->vm().host_log();
    (void)(*session)->shutdown();
    reached_end = true;
    return r;
  };
  in_vm();
  // [expect.disk.NAME]: read-only through libguestfs, on the overlays this run wrote, also
  // after a crash or a hang: what the guest had not written back by then is what a power cut
  // would have lost, and that is the question after such a run.
  bool ended_in_guest = reached_end || r.verdict == "hang" || r.verdict == "kernel-crash" ||
                        (r.verdict == "pass" && sc.expect.kernel == "crash");
  if (booted && ended_in_guest && !sc.expect.disks.empty()) {
    std::vector<DiskToInspect> todo;
    for (auto& disk : sc.disks)  // in [[disk]] order
      for (auto& want : sc.expect.disks)
        if (want.disk == disk.name) todo.push_back({&disk, &want, disk_dir->path() / (disk.name + ".qcow2")});
    auto found = inspect_disks(todo);
    if (!found) {
      Error e = found.error();
      e.message = "inspecting the disks: " + e.message;
      return fail_with(e);
    }
    for (auto& d : *found) {
      for (auto& f : d.failures) r.failures.push_back(f);
      r.disks.push_back(std::move(d));
    }
  }
  if (reached_end) {
    finish_verdict(r, sc);
  } else if (r.verdict == "pass") {  // an expected crash: the kernel log and the disks must be as expected too
    check_dmesg(r, sc, true);
    if (!r.failures.empty()) {
      r.verdict = "fail";
      r.exit_code = 1;
    }
  }
  return done(r);
}

static json snapshots_json(const std::vector<FileSnapshot>& snaps) {
  json a = json::array();
  for (auto& s : snaps) a.push_back({{"path", s.path}, {"before", s.before}, {"after", s.after}});
  return a;
}

json RunReport::to_json() const {
  json j = {{"scenario", scenario}, {"file", file},         {"verdict", verdict},   {"exit_code", exit_code},
            {"kernel", kernel_release}, {"seconds", seconds}, {"failures", failures}, {"warnings", warnings},
            {"error", error}};
  j["steps"] = json::array();
  for (auto& s : steps)
    j["steps"].push_back({{"name", s.name}, {"finished", s.finished}, {"exit_code", s.status.code},
                          {"snapshots", snapshots_json(s.snapshots)}, {"signal", s.status.signal},
                          {"seconds", s.seconds}, {"stdout", s.out}, {"stderr", s.err}, {"failures", s.failures}});
  j["faults"] = json::array();
  for (auto& f : faults)
  {
    json fj = {{"name", f.name}, {"type", f.type}, {"fired", f.fired}, {"logged", f.logged}, {"stacks", f.stacks}};
    if (!f.notes.empty()) fj["notes"] = f.notes;
    fj["details"] = f.details;
    if (f.eligible >= 0) fj["eligible"] = f.eligible;
    if (!f.nth_runs.empty()) {
      fj["nth_runs"] = json::array();
      for (auto& n : f.nth_runs)
        fj["nth_runs"].push_back({{"nth", n.nth}, {"injected", n.injected}, {"exit_code", n.status.code},
                                  {"signal", n.status.signal}, {"site", n.site}, {"stderr", n.stderr_line}});
    }
    j["faults"].push_back(fj);
  }
  if (!hang_evidence.empty())
    j["hang"] = {{"evidence", hang_evidence}, {"blocked_tasks", blocked_tasks}};
  j["crash"] = crash_title.empty() ? json(nullptr) : json({{"title", crash_title}, {"report", crash_report}});
  j["disks"] = json::array();
  for (auto& d : disks) j["disks"].push_back(d.to_json());
  j["kmsg"] = kmsg;
  if (!trace.empty()) j["trace"] = trace;
  return j;
}

static std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') o += ' ';
        else o += c;
    }
  }
  return o;
}

std::string RunReport::to_junit() const {
  int failed = 0;
  std::string cases;
  for (auto& s : steps) {
    cases += fmt::format("  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3f}\">", xml_escape(scenario),
                         xml_escape(s.name), s.seconds);
    if (!s.failures.empty()) {
      ++failed;
      std::string msg;
      for (auto& f : s.failures) msg += f + "; ";
      cases += fmt::format("<failure message=\"{}\"/>", xml_escape(msg));
    }
    cases += "</testcase>\n";
  }
  std::string verdict_case = fmt::format("  <testcase classname=\"{}\" name=\"verdict\" time=\"{:.3f}\">",
                                         xml_escape(scenario), seconds);
  if (verdict != "pass") {
    ++failed;
    std::string msg = verdict + (error.empty() ? "" : ": " + error);
    for (auto& f : failures) msg += "; " + f;
    verdict_case += fmt::format("<failure message=\"{}\"/>", xml_escape(msg));
  }
  verdict_case += "</testcase>\n";
  return fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" "
                     "time=\"{:.3f}\">\n{}{}</testsuite>\n",
                     xml_escape(scenario), steps.size() + 1, failed, seconds, cases, verdict_case);
}

}  // namespace fb
