#include "orchestrator/engine/report.h"

#include "common/files.h"
#include "orchestrator/core/printable.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <map>
#include <unistd.h>

namespace fb {

using nlohmann::json;

namespace {

// A file read before and after a step: the lines that changed, "before -> after" (pairing lines
// by their key, the text before the first ':' or whitespace, as in meminfo and memory.stat).
std::string format_snapshot(const FileSnapshot& snap) {
  auto lines = [](const std::string& text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      if (end > pos) out.push_back(text.substr(pos, end - pos));
      pos = end + 1;
    }
    return out;
  };
  auto key = [](const std::string& l) { return l.substr(0, l.find_first_of(": \t")); };
  auto before = lines(snap.before), after = lines(snap.after);
  std::string out = fmt::format("    snapshot {}:", snap.path);
  if (snap.after.empty() && !snap.before.empty()) return out + " (not read after the step)\n";
  if (before.size() <= 1 && after.size() <= 1)
    return out + fmt::format(" {} -> {}\n", before.empty() ? "" : before[0], after.empty() ? "" : after[0]);
  std::map<std::string, std::string> was;
  for (auto& l : before) was[key(l)] = l;
  std::size_t changed = 0;
  std::string body;
  for (auto& l : after) {
    auto it = was.find(key(l));
    if (it != was.end() && it->second == l) continue;
    ++changed;
    body += fmt::format("        {}  ->  {}\n", it == was.end() ? "(new)" : it->second, l);
  }
  return out + (changed ? "\n" + body : " unchanged\n");
}

// Lines the agent printed on the console (its own diagnostics), for agent.log.
std::string agent_lines(const std::string& console) {
  std::string out;
  std::size_t pos = 0;
  while (pos < console.size()) {
    std::size_t end = console.find('\n', pos);
    if (end == std::string::npos) end = console.size();
    std::string_view line(console.data() + pos, end - pos);
    if (line.find("faultbox-agent:") != std::string_view::npos) out.append(line).append("\n");
    pos = end + 1;
  }
  return out;
}

json snapshots_json(const std::vector<FileSnapshot>& snaps) {
  json a = json::array();
  for (auto& s : snaps) a.push_back({{"path", s.path}, {"before", s.before}, {"after", s.after}});
  return a;
}

}  // namespace

// The human report: what stdout shows and what the evidence dir keeps as report.txt.
std::string RunReport::to_text() const {
  const RunReport& r = *this;
  std::string out;
  // A step's output in full is in --json; here its first lines, enough to see the errno.
  auto excerpt = [&out](const std::string& text, const char* label) {
    if (text.empty()) return;
    std::string head = text.substr(0, 300);
    std::size_t lines = 0, pos = 0;
    while (lines < 3 && (pos = head.find('\n', pos)) != std::string::npos) ++lines, ++pos;
    if (lines == 3) head.resize(pos);
    while (!head.empty() && head.back() == '\n') head.pop_back();
    std::string indented;
    for (char c : head) indented += c == '\n' ? std::string("\n            ") : std::string(1, c);
    out += fmt::format("    {}: {}{}\n", label, indented, head.size() < text.size() - (text.back() == '\n') ? " ..." : "");
  };
  for (auto& s : r.steps) {
    std::string how = s.finished ? s.status.describe() : "did not finish";
    out += fmt::format("step {}: {}, {:.2f} s{}\n", s.name, how, s.seconds, s.failures.empty() ? "" : " FAILED");
    if (s.oom_killed)
      out += fmt::format("    killed by the OOM killer ({}{}): pid {} ({})\n", s.oom_killed->reason == "system" ? "system out of memory" : "memory cgroup out of memory",
                         s.oom_killed->memcg.empty() ? "" : " in " + s.oom_killed->memcg, s.oom_killed->pid, s.oom_killed->comm);
    for (auto& f : s.failures) out += fmt::format("    {}\n", f);
    for (auto& snap : s.snapshots) out += format_snapshot(snap);
    excerpt(s.out, "stdout");
    excerpt(s.err, "stderr");
  }
  for (auto& f : r.faults) {
    if (f.armed == 0) continue;  // its steps never ran (the JSON keeps it, with armed_steps 0)
    std::string of = f.eligible >= 0 ? " of " + std::to_string(f.eligible) + " eligible call(s)" : "";
    out += fmt::format("fault {} ({}): fired {} time(s){}; {} logged, {} distinct stack(s)\n", f.name, f.type, f.fired,
                       of, f.logged, f.stacks.size());
    if (f.fired == 0 && f.may_not_fire) out += "    never fired, as may_not_fire allows\n";
    for (auto& st : f.stacks) out += fmt::format("    {}\n", st);
    // fail_nth: what each failed site did to the command; a site whose failure the command
    // did not notice (exit 0) is often the interesting one.
    // A long sweep shows its first runs and always its last: the one past every site, which
    // says where the sweep ended and how the command ends unfaulted.
    constexpr std::size_t kShownRuns = 40;
    auto nth_line = [&](const auto& n) {
      out += fmt::format("    nth {:>4}: {} -> {}{}{}\n", n.nth, n.injected ? (n.site.empty() ? "injected, site not logged (__GFP_NOWARN?)" : n.site) : "not reached",
                         n.status.describe(), n.stderr_line.empty() ? "" : ": ", n.stderr_line);
    };
    const std::size_t runs = f.nth_runs.size();
    const std::size_t head = runs > kShownRuns ? kShownRuns - 1 : runs;
    for (std::size_t i = 0; i < head; ++i) nth_line(f.nth_runs[i]);
    if (runs > kShownRuns) {
      out += fmt::format("    ... {} more runs in --json\n", runs - kShownRuns);
      nth_line(f.nth_runs.back());
    }
    for (auto& note : f.notes) out += fmt::format("    note: {}\n", note);
    for (auto& [k, v] : f.details.items()) {
      std::string text = v.is_string() ? v.get<std::string>() : v.dump();
      if (text.size() > 300) text = text.substr(0, 300) + " ...";
      out += fmt::format("    {}: {}\n", k, text);
    }
  }
  if (!r.trace.empty())
    out += fmt::format("trace events: {} line(s) (in --json, and trace.log of the evidence dir)\n",
                       std::count(r.trace.begin(), r.trace.end(), '\n'));
  // Post-run disk inspection: fsck of each ext4 filesystem, then every file checked.
  for (auto& d : r.disks) {
    out += fmt::format("disk {}: inspected in {:.1f} s (+ {:.1f} s appliance start{})\n", d.disk, d.seconds,
                       d.appliance_seconds, r.disks.size() > 1 ? ", shared by all disks" : "");
    for (auto& f : d.fsck) out += fmt::format("    fsck {}: {}\n", f.device, f.meaning);
    if (d.bytes_checked && d.unreadable.empty())
      out += fmt::format("    readable: all {} bytes\n", d.bytes_checked);
    for (auto& u : d.unreadable)
      out += fmt::format("    unreadable: {} bytes at offset {}{}\n", u.length, u.offset,
                         u.partition ? fmt::format(" (partition {})", u.partition) : "");
    // A sha256 (or lost:sha256) shortened to its first 16 digits; the JSON report has them whole.
    auto shown = [](const std::string& v) {
      if (v.size() == 64) return v.substr(0, 16) + "...";
      if (v.size() == 69 && v.rfind("lost:", 0) == 0) return v.substr(0, 21) + "...";
      return v;
    };
    for (auto& f : d.files)
      out += fmt::format("    {} {}: {}{}\n", f.verdict, f.location, shown(f.found),
                         f.expected.empty() ? "" : " (expected " + shown(f.expected) + ")");
    for (auto& l : d.losses) out += fmt::format("    lost: {}\n", l);
  }
  for (auto& w : r.warnings) out += fmt::format("warning: {}\n", w);
  for (auto& f : r.failures)
    if (f.rfind("step ", 0) != 0) out += fmt::format("expectation failed: {}\n", f);
  if (!r.error.empty()) out += fmt::format("error: {}\n", r.error);
  if (!r.hang_evidence.empty()) out += fmt::format("hang evidence: {} (console.log has the task dumps)\n", r.hang_evidence);
  if (!r.crash_report.empty()) out += fmt::format("crash report:\n{}\n", r.crash_report);
  out += fmt::format("verdict: {} ({}, {:.1f} s)\n", to_string(r.verdict), r.scenario, r.seconds);
  // Nearly every line above quotes the guest (output, snapshots, stacks, details, errors, the
  // crash report): one pass over the whole text leaves no path for an escape sequence.
  return printable(out, std::string::npos, TextLayout::Lines);
}

json RunReport::to_json() const {
  json j = {{"scenario", scenario}, {"file", file},         {"verdict", to_string(verdict)},   {"exit_code", exit_code()},
            {"kernel", kernel_release}, {"kernel_image", kernel.string()}, {"backend", backend}, {"seconds", seconds}, {"failures", failures}, {"warnings", warnings},
            {"error", error}};
  j["steps"] = json::array();
  for (auto& s : steps) {
    j["steps"].push_back({{"name", s.name}, {"finished", s.finished}, {"exit_code", s.status.code},
                          {"snapshots", snapshots_json(s.snapshots)}, {"signal", s.status.signal},
                          {"seconds", s.seconds}, {"stdout", s.out}, {"stderr", s.err}, {"failures", s.failures}});
    if (s.oom_killed)
      j["steps"].back()["oom_killed"] = {{"pid", s.oom_killed->pid}, {"comm", s.oom_killed->comm},
                                         {"reason", s.oom_killed->reason}, {"memcg", s.oom_killed->memcg}};
  }
  j["faults"] = json::array();
  for (auto& f : faults)
  {
    json fj = {{"name", f.name},     {"type", f.type},        {"fired", f.fired},
               {"logged", f.logged}, {"armed_steps", f.armed}, {"stacks", f.stacks}};
    if (f.may_not_fire) fj["may_not_fire"] = true;
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

std::string RunReport::to_junit() const {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + to_junit_suite(scenario);
}

std::string RunReport::to_junit_suite(const std::string& suite_name) const {
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
  if (verdict != Verdict::Pass) {
    ++failed;
    std::string msg = to_string(verdict) + (error.empty() ? "" : ": " + error);
    for (auto& f : failures) msg += "; " + f;
    verdict_case += fmt::format("<failure message=\"{}\"/>", xml_escape(msg));
  }
  verdict_case += "</testcase>\n";
  return fmt::format("<testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" time=\"{:.3f}\">\n{}{}</testsuite>\n",
                     xml_escape(suite_name), steps.size() + 1, failed, seconds, cases, verdict_case);
}

Result<RunReport> report_from_json(const json& j) {
  if (!j.is_object()) return make_error(ErrorKind::Infra, "a run report is not a JSON object");
  auto verdict = verdict_named(j.value("verdict", ""));
  if (!verdict) return make_error(ErrorKind::Infra, "a run report has no known verdict");
  try {
    RunReport r;
    r.scenario = j.value("scenario", "");
    r.file = j.value("file", "");
    r.verdict = *verdict;
    r.kernel_release = j.value("kernel", "");
    r.kernel = j.value("kernel_image", "");
    r.seconds = j.value("seconds", 0.0);
    r.failures = j.value("failures", std::vector<std::string>{});
    r.warnings = j.value("warnings", std::vector<std::string>{});
    r.error = j.value("error", "");
    for (auto& sj : j.value("steps", json::array())) {
      StepResult s;
      s.name = sj.value("name", "");
      s.finished = sj.value("finished", false);
      s.status.code = sj.value("exit_code", -1);
      s.status.signal = sj.value("signal", 0);
      s.seconds = sj.value("seconds", 0.0);
      s.out = sj.value("stdout", "");
      s.err = sj.value("stderr", "");
      s.failures = sj.value("failures", std::vector<std::string>{});
      r.steps.push_back(std::move(s));
    }
    if (auto c = j.find("crash"); c != j.end() && c->is_object()) {
      r.crash_title = c->value("title", "");
      r.crash_report = c->value("report", "");
    }
    if (auto h = j.find("hang"); h != j.end() && h->is_object()) {
      r.hang_evidence = h->value("evidence", "");
      r.blocked_tasks = h->value("blocked_tasks", std::vector<std::string>{});
    }
    return r;
  } catch (const json::exception& e) {
    return make_error(ErrorKind::Infra, "a run report does not read back: {}", e.what());
  }
}

Status write_evidence(const RunReport& r, const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(ErrorKind::Usage, "evidence dir {}: {}", dir.string(), ec.message());
  FB_TRY(write_file_atomic(dir / "report.json", r.to_json().dump(2)));
  FB_TRY(write_file_atomic(dir / "report.txt", r.to_text()));
  FB_TRY(write_file_atomic(dir / "kmsg.log", r.kmsg));
  if (!r.trace.empty()) FB_TRY(write_file_atomic(dir / "trace.log", r.trace));
  FB_TRY(write_file_atomic(dir / "console.log", r.console));
  FB_TRY(write_file_atomic(dir / "qemu.log", r.host_log));
  FB_TRY(write_file_atomic(dir / "agent.log", agent_lines(r.console)));
  if (!r.file.empty()) FB_TRY(copy_file_atomic(r.file, dir / "scenario.toml"));
  // Cached faultbox kernels keep their .config next to the bzImage.
  if (!r.kernel.empty() && fs::exists(r.kernel.parent_path() / "config"))
    FB_TRY(copy_file_atomic(r.kernel.parent_path() / "config", dir / "kernel.config"));
  return {};
}

Result<std::filesystem::path> write_default_evidence(const RunReport& r) {
  namespace fs = std::filesystem;
  fs::path base;
  if (const char* x = getenv("XDG_STATE_HOME"); x && *x) base = x;
  else if (const char* h = getenv("HOME"); h && *h) base = fs::path(h) / ".local/state";
  else return make_error(ErrorKind::Infra, "neither XDG_STATE_HOME nor HOME is set: no evidence dir");
  base /= "faultbox/runs";
  std::string slug;
  for (char c : r.scenario.substr(0, 40)) slug += isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(tolower(c)) : '-';
  time_t now = time(nullptr);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", gmtime(&now));
  std::string name = fmt::format("{}-{}-{}", stamp, slug, getpid());
  fs::path tmp = base / (".partial-" + name), final_dir = base / name;
  auto st = write_evidence(r, tmp);
  std::error_code ec;
  if (st) fs::rename(tmp, final_dir, ec);
  if (!st || ec) {
    fs::remove_all(tmp, ec);
    return st ? make_error(ErrorKind::Infra, "evidence dir {}: {}", final_dir.string(), ec.message()) : st.error();
  }
  return final_dir;
}

}  // namespace fb
