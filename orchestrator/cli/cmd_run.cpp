// faultbox run SCENARIO: boot, arm faults per step, run the steps, read back what fired,
// print the verdict and exit with its code.
#include "common/files.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/core/log.h"
#include "orchestrator/core/scenario.h"
#include "orchestrator/vm/scenario_run.h"

#include <cstdio>
#include <filesystem>

namespace fb::cli {

namespace {

struct RunOptions {
  std::string scenario, json, junit, keep;
  bool follow = false;
};

void print_report(const RunReport& r) {
  // A step's output in full is in --json; here its first lines, enough to see the errno.
  auto excerpt = [](const std::string& text, const char* label) {
    if (text.empty()) return;
    std::string head = text.substr(0, 300);
    std::size_t lines = 0, pos = 0;
    while (lines < 3 && (pos = head.find('\n', pos)) != std::string::npos) ++lines, ++pos;
    if (lines == 3) head.resize(pos);
    while (!head.empty() && head.back() == '\n') head.pop_back();
    std::string indented;
    for (char c : head) indented += c == '\n' ? std::string("\n            ") : std::string(1, c);
    printf("    %s: %s%s\n", label, indented.c_str(), head.size() < text.size() - (text.back() == '\n') ? " ..." : "");
  };
  for (auto& s : r.steps) {
    printf("step %s: %s, %.2f s%s\n", s.name.c_str(), s.status.describe().c_str(), s.seconds,
           s.failures.empty() ? "" : " FAILED");
    for (auto& f : s.failures) printf("    %s\n", f.c_str());
    excerpt(s.out, "stdout");
    excerpt(s.err, "stderr");
  }
  for (auto& f : r.faults) {
    std::string of = f.eligible >= 0 ? " of " + std::to_string(f.eligible) + " eligible call(s)" : "";
    printf("fault %s (%s): fired %lld time(s)%s; %lld logged, %zu distinct stack(s)\n", f.name.c_str(), f.type.c_str(),
           static_cast<long long>(f.fired), of.c_str(), static_cast<long long>(f.logged), f.stacks.size());
    for (auto& st : f.stacks) printf("    %s\n", st.c_str());
  }
  for (auto& w : r.warnings) printf("warning: %s\n", w.c_str());
  for (auto& f : r.failures)
    if (f.rfind("step ", 0) != 0) printf("expectation failed: %s\n", f.c_str());
  if (!r.error.empty()) printf("error: %s\n", r.error.c_str());
  if (!r.crash_report.empty()) printf("crash report:\n%s\n", r.crash_report.c_str());
  printf("verdict: %s (%s, %.1f s)\n", r.verdict.c_str(), r.scenario.c_str(), r.seconds);
}

Status write_artifacts(const RunReport& r, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(ErrorKind::Usage, "--keep-artifacts {}: {}", dir, ec.message());
  FB_TRY(write_file_atomic(std::filesystem::path(dir) / "report.json", r.to_json().dump(2)));
  FB_TRY(write_file_atomic(std::filesystem::path(dir) / "kmsg.log", r.kmsg));
  FB_TRY(write_file_atomic(std::filesystem::path(dir) / "console.log", r.console));
  if (!r.file.empty()) FB_TRY(copy_file_atomic(r.file, std::filesystem::path(dir) / "scenario.toml"));
  return {};
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
  print_report(r);
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
    auto st = write_artifacts(r, o.keep);
    if (!st) log_line(Verbosity::Quiet, st.error().message);
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
  cmd->add_option("--keep-artifacts", o->keep, "save report, kernel log, console and scenario in this directory");
  cmd->add_flag("--follow", o->follow, "show the kernel log and step output live");
  return [o] { return run(*o); };
}

}  // namespace fb::cli
