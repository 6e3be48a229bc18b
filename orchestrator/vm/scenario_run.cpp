#include "orchestrator/vm/scenario_run.h"

#include "common/fd.h"
#include "common/temp_dir.h"
#include "orchestrator/core/crash_report.h"
#include "orchestrator/core/error_injection.h"
#include "orchestrator/core/kmsg.h"
#include "orchestrator/core/log.h"
#include "orchestrator/vm/session.h"

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

// Disk images live in a private temp dir that goes with the run.
Result<std::vector<DiskSpec>> make_disks(const Scenario& sc, const TempDir& dir) {
  std::vector<DiskSpec> out;
  for (auto& d : sc.disks) {
    auto path = dir.path() / (d.name + "." + d.format);
    if (d.format == "raw") {
      Fd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      if (!fd || ftruncate(fd.get(), static_cast<off_t>(d.size_bytes)) != 0)
        return make_error(ErrorKind::Infra, "disk {}: {}", path.string(), strerror(errno));
    } else {
      auto r = run_capture({"qemu-img", "create", "-q", "-f", "qcow2", path.string(), std::to_string(d.size_bytes)}, true);
      if (!r || r->status.code != 0)
        return make_error(ErrorKind::Infra, "qemu-img create {}: {}", path.string(), r ? r->output : r.error().message);
    }
    out.push_back({path, d.format, d.name, false});
  }
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

bool armed_for(const FaultSpec& f, const std::string& step) {
  return f.steps.empty() || std::find(f.steps.begin(), f.steps.end(), step) != f.steps.end();
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
  for (auto& want : sc.expect.dmesg_contains)
    if (r.kmsg.find(want) == std::string::npos) r.failures.push_back("kernel log lacks \"" + want + "\"");
  for (auto& bad : sc.expect.dmesg_not_contains)
    if (r.kmsg.find(bad) != std::string::npos) r.failures.push_back("kernel log contains \"" + bad + "\"");
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
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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
    static const std::set<std::string> kImplemented = {"failslab", "fail_page_alloc", "fail_futex", "fail_usercopy",
                                                       "fail_function", "fail_make_request", "fail_io_timeout",
                                                       "bpf_override"};
    if (!kImplemented.count(f.type))
      return fail_with(make_error(ErrorKind::Usage, "{}: fault type '{}' is not implemented by faultbox run yet",
                                  f.where.str(), f.type));
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

  SessionOptions so;
  so.kernel = sc.vm.kernel;
  so.includes = sc.vm.include;
  so.memory_mb = sc.vm.memory_mb;
  so.cpus = sc.vm.cpus;
  so.accel = sc.vm.accel;
  so.disks = *disks;
  so.extra_cmdline = sc.vm.cmdline;
  auto session = Session::boot(so);
  if (!session) return fail_with(session.error());
  AgentClient& agent = (*session)->agent();
  r.kernel_release = (*session)->hello().kernel_release;

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

  // The booted kernel's own list, for kernels whose list was not known before boot.
  if (auto list = error_injection_list_of((*session)->hello()))
    if (auto e = find_uninjectable_fault(sc, *list)) return fail_with(*e);

  std::map<std::string, FaultResult> fault_results;
  for (auto& f : sc.faults) fault_results[f.name] = FaultResult{f.name, f.type, 0, 0, {}};

  for (auto& step : sc.steps) {
    // arm
    std::size_t first_record = records.size();
    std::vector<std::pair<const FaultSpec*, ArmedFault>> armed;
    std::map<std::string, std::string> req_env;
    ExecRequest req;
    bool mark = false;
    for (auto& f : sc.faults) {
      if (!armed_for(f, step.name)) continue;
      auto a = agent.arm({{"type", f.type}, {"name", f.name}, {"params", f.params}});
      if (!a) {
        for (auto& [spec, h] : armed) (void)agent.disarm(h.handle);
        Error e = a.error();
        e.message = f.where.str() + ": " + e.message;
        return fail_with(e);
      }
      mark |= a->needs_task_mark;
      req.faults.push_back(a->handle);
      add_fault_env(req_env, f.name, a->info);
      armed.emplace_back(&f, *a);
    }
    if (opts.follow) progress("step {}: running {}", step.name, step.argv.back());
    // run
    StepResult sr;
    sr.name = step.name;
    req.argv = step.argv;
    req.env = req_env;
    req.make_it_fail = mark && step.mark_task;
    req.aim_self = !step.mark_task;
    // A step without its own limit gets what is left of the run's; a wedged step ends as a hang.
    auto left = sc.vm.timeout - std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    req.timeout = step.timeout.count() > 0 ? std::min(step.timeout, left) : left;
    if (req.timeout.count() <= 0) return fail_with(make_error(ErrorKind::Timeout, "the run exceeded [vm] timeout"));
    auto ts = std::chrono::steady_clock::now();
    bool out_cut = false, err_cut = false;
    auto res = agent.exec(req, [&](proto::Stream s, std::string_view d) {
      if (s == proto::Stream::Stderr) append_capped(sr.err, d, kMaxStepOutputBytes, err_cut);
      else append_capped(sr.out, d, kMaxStepOutputBytes, out_cut);
      if (opts.follow) write_all(s == proto::Stream::Stderr ? 2 : 1, d.data(), d.size());
    });
    sr.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - ts).count();
    // disarm and count, even when the step failed to run
    std::int64_t last_record = -1;
    for (auto& [spec, h] : armed) {
      auto c = agent.disarm(h.handle);
      if (!c) continue;
      auto& fr = fault_results[spec->name];
      fr.fired += c->value("fired", 0);
      if (c->contains("eligible")) fr.eligible = std::max<std::int64_t>(fr.eligible, 0) + c->value("eligible", 0LL);
      // Faults that collect their own stacks (bpf_override, from a BPF stack map) send them here.
      for (auto& sig : c->value("stacks", json::array()))
        if (sig.is_string() && std::find(fr.stacks.begin(), fr.stacks.end(), sig) == fr.stacks.end())
          fr.stacks.push_back(sig.get<std::string>());
      last_record = std::max<std::int64_t>(last_record, c->value("kmsg_record", -1LL));
    }
    // Wait for the kernel log up to the disarm, then credit the injections it holds to the
    // faults armed for this step (fail_function's log says only "fail_function", not which).
    for (int i = 0; i < 100 && last_record >= 0 && (records.empty() || static_cast<std::int64_t>(records.back().seq) < last_record); ++i)
      (void)agent.ping();
    std::vector<KmsgRecord> during(records.begin() + static_cast<std::ptrdiff_t>(first_record), records.end());
    for (auto& inj : find_injections(during)) {
      for (auto& [spec, h] : armed) {
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
      Error e = res.error();
      if (e.kind == ErrorKind::Timeout) e.message = "step " + step.name + ": " + e.message;
      if (e.kind == ErrorKind::Boot) e.message = "step " + step.name + ": " + e.message;
      r.kmsg = kmsg_text(records);
      if (e.kind == ErrorKind::Boot) (*session)->vm().wait_exit(std::chrono::seconds(5));
      r.console = (*session)->vm().console();
      if ((*session)->vm().exit_info()) {
        auto scan = scan_console(r.console);
        if (scan.crash) {
          r.crash_title = scan.crash->title;
          r.crash_report = scan.crash->report;
          r.error = "kernel crash during step " + step.name + ": " + r.crash_title;
          bool expected = sc.expect.kernel == "crash";
          r.verdict = expected ? "pass" : "kernel-crash";
          r.exit_code = expected ? 0 : 3;
          return done(r);
        }
      }
      return fail_with(e);
    }
    sr.status = res->status;
    if (step.expect_exit && res->status.shell_code() != *step.expect_exit)
      sr.failures.push_back(fmt::format("exit {} (expected {})", res->status.shell_code(), *step.expect_exit));
    for (auto& want : step.expect_stdout)
      if (sr.out.find(want) == std::string::npos) sr.failures.push_back("stdout lacks \"" + want + "\"");
    for (auto& want : step.expect_stderr)
      if (sr.err.find(want) == std::string::npos) sr.failures.push_back("stderr lacks \"" + want + "\"");
    r.steps.push_back(std::move(sr));
  }
  for (auto& f : sc.faults) r.faults.push_back(fault_results[f.name]);
  if (kmsg_dropped)
    r.warnings.push_back(fmt::format("kernel log kept only its first {} MiB; {} later chunks dropped (stacks after "
                                     "that are missing, fired counts are exact)",
                                     kMaxKmsgBytes >> 20, kmsg_dropped));
  r.kmsg = kmsg_text(records);
  r.console = (*session)->vm().console();
  (void)(*session)->shutdown();
  finish_verdict(r, sc);
  return done(r);
}

json RunReport::to_json() const {
  json j = {{"scenario", scenario}, {"file", file},         {"verdict", verdict},   {"exit_code", exit_code},
            {"kernel", kernel_release}, {"seconds", seconds}, {"failures", failures}, {"warnings", warnings},
            {"error", error}};
  j["steps"] = json::array();
  for (auto& s : steps)
    j["steps"].push_back({{"name", s.name}, {"exit_code", s.status.code}, {"signal", s.status.signal},
                          {"seconds", s.seconds}, {"stdout", s.out}, {"stderr", s.err}, {"failures", s.failures}});
  j["faults"] = json::array();
  for (auto& f : faults)
    j["faults"].push_back({{"name", f.name}, {"type", f.type}, {"fired", f.fired}, {"logged", f.logged},
                           {"stacks", f.stacks}});
  for (std::size_t i = 0; i < faults.size(); ++i)
    if (faults[i].eligible >= 0) j["faults"][i]["eligible"] = faults[i].eligible;
  j["crash"] = crash_title.empty() ? json(nullptr) : json({{"title", crash_title}, {"report", crash_report}});
  j["kmsg"] = kmsg;
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
