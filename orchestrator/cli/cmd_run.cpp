// faultbox run SCENARIO: boot, arm faults per step, run the steps, read back what fired,
// print the verdict and exit with its code.
#include "common/files.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/core/log.h"
#include "orchestrator/core/scenario.h"
#include "orchestrator/vm/scenario_run.h"
#include "orchestrator/vm/vm.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <cstdio>
#include <ctime>
#include <filesystem>

namespace fb::cli {

namespace {

struct RunOptions {
  std::string scenario, json, junit, keep;
  bool follow = false;
};

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

// The human report: what stdout shows and what the evidence dir keeps as report.txt.
std::string format_report(const RunReport& r) {
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
    for (auto& f : s.failures) out += fmt::format("    {}\n", f);
    for (auto& snap : s.snapshots) out += format_snapshot(snap);
    excerpt(s.out, "stdout");
    excerpt(s.err, "stderr");
  }
  for (auto& f : r.faults) {
    std::string of = f.eligible >= 0 ? " of " + std::to_string(f.eligible) + " eligible call(s)" : "";
    out += fmt::format("fault {} ({}): fired {} time(s){}; {} logged, {} distinct stack(s)\n", f.name, f.type, f.fired,
                       of, f.logged, f.stacks.size());
    for (auto& st : f.stacks) out += fmt::format("    {}\n", st);
    // fail_nth: what each failed site did to the command; a site whose failure the command
    // did not notice (exit 0) is often the interesting one.
    constexpr std::size_t kShownRuns = 40;
    for (std::size_t i = 0; i < f.nth_runs.size() && i < kShownRuns; ++i) {
      auto& n = f.nth_runs[i];
      out += fmt::format("    nth {:>4}: {} -> {}{}{}\n", n.nth, n.injected ? (n.site.empty() ? "injected, site not logged (__GFP_NOWARN?)" : n.site) : "not reached",
                         n.status.describe(), n.stderr_line.empty() ? "" : ": ", n.stderr_line);
    }
    if (f.nth_runs.size() > kShownRuns)
      out += fmt::format("    ... {} more runs in --json\n", f.nth_runs.size() - kShownRuns);
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
  out += fmt::format("verdict: {} ({}, {:.1f} s)\n", r.verdict, r.scenario, r.seconds);
  return out;
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

Status write_artifacts(const RunReport& r, const std::string& text, const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(ErrorKind::Usage, "evidence dir {}: {}", dir.string(), ec.message());
  FB_TRY(write_file_atomic(dir / "report.json", r.to_json().dump(2)));
  FB_TRY(write_file_atomic(dir / "report.txt", text));
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

// Default evidence dir of a run that did not pass: $XDG_STATE_HOME/faultbox/runs/<time>-<name>-<pid>,
// filled under a temporary name and renamed when complete, so no half-written dir is left.
Result<std::filesystem::path> write_default_evidence(const RunReport& r, const std::string& text) {
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
  auto st = write_artifacts(r, text, tmp);
  std::error_code ec;
  if (st) fs::rename(tmp, final_dir, ec);
  if (!st || ec) {
    fs::remove_all(tmp, ec);
    return st ? make_error(ErrorKind::Infra, "evidence dir {}: {}", final_dir.string(), ec.message()) : st.error();
  }
  return final_dir;
}

int run(const RunOptions& o) {
  auto sc = load_scenario(o.scenario);
  if (!sc) {
    log_line(Verbosity::Quiet, sc.error().message);
    return exit_code::kUsage;
  }
  ScenarioRunOptions ro;
  ro.follow = o.follow;
  RunReport r = run_scenario(*sc, ro);
  // Interrupted by the user: tear down and go, leaving no evidence dir behind.
  if (interrupted()) return 128 + interrupt_signal();
  std::string text = format_report(r);
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
  if (!o.keep.empty()) {
    auto st = write_artifacts(r, text, o.keep);
    if (!st) log_line(Verbosity::Quiet, st.error().message);
    else if (r.verdict != "pass") printf("evidence: %s\n", o.keep.c_str());
  } else if (r.verdict != "pass") {
    auto dir = write_default_evidence(r, text);
    if (dir) printf("evidence: %s\n", dir->c_str());
    else log_line(Verbosity::Quiet, dir.error().message);
  }
  return r.exit_code;
}

}  // namespace

Runner add_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Run a scenario: boot, arm faults, run steps, report what fired, verdict");
  cmd->footer("Exit: 0 pass, 1 expectation failed, 2 usage/scenario error, 3 kernel crash, 4 hang, 5 infrastructure.");
  cmd->add_option("scenario", o->scenario, "scenario file (TOML)")->required();
  cmd->add_option("--json", o->json, "write the report as JSON");
  cmd->add_option("--junit", o->junit, "write a JUnit XML report (one case per step, plus the verdict)");
  cmd->add_option("--keep-artifacts", o->keep,
                  "save report, kernel log, console, QEMU log, scenario and kernel config here (default for a run "
                  "that does not pass: $XDG_STATE_HOME/faultbox/runs/...)");
  cmd->add_flag("--follow", o->follow, "show the kernel log and step output live");
  return [o] { return run(*o); };
}

}  // namespace fb::cli
