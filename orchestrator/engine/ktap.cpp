#include "orchestrator/engine/ktap.h"

#include "orchestrator/core/printable.h"

#include <fmt/format.h>

namespace fb {

namespace {

// A test name on a result line: one printable line, and no '#', which would start a directive.
std::string ktap_name(std::string_view name) {
  std::string out = printable(name);
  for (char& c : out)
    if (c == '#') c = '_';
  return out.empty() ? "unnamed" : out;
}

// Collects one test's subtests: diagnostics first, then the result line they explain.
class SubtestList {
 public:
  void diagnostic(std::string_view text) {
    std::string safe = printable(text, std::string_view::npos, TextLayout::Lines);
    std::size_t pos = 0;
    while (pos <= safe.size()) {
      std::size_t end = safe.find('\n', pos);
      if (end == std::string::npos) end = safe.size();
      if (end > pos) body_ += fmt::format("    # {}\n", std::string_view(safe).substr(pos, end - pos));
      pos = end + 1;
    }
  }
  void result(bool ok, std::string_view name, std::string_view skip_reason = {}) {
    ++count_;
    body_ += fmt::format("    {} {} {}", ok ? "ok" : "not ok", count_, ktap_name(name));
    if (!skip_reason.empty()) body_ += " # SKIP " + ktap_name(skip_reason);
    body_ += "\n";
  }
  std::string text(std::string_view name) const {
    return fmt::format("    KTAP version 1\n    # Subtest: {}\n    1..{}\n{}", ktap_name(name), count_, body_);
  }

 private:
  int count_ = 0;
  std::string body_;
};

std::string scenario_test(const RunReport& r, int number) {
  SubtestList t;
  for (auto& s : r.steps) {
    t.diagnostic(fmt::format("step {}: {}, {:.2f} s", s.name, s.finished ? s.status.describe() : "did not finish", s.seconds));
    for (auto& f : s.failures) t.diagnostic(f);
    t.result(s.finished && s.failures.empty(), "step " + s.name);
  }
  for (auto& e : r.expectations) {
    // What the expectation was weighed on: the fault's counts, the crash.
    if (e.name.rfind("fault ", 0) == 0)
      for (auto& f : r.faults)
        if (e.name == "fault " + f.name + " fired")
          t.diagnostic(fmt::format("fault {} ({}): fired {} time(s); {} logged, {} distinct stack(s)", f.name, f.type,
                                   f.fired, f.logged, f.stacks.size()));
    if (e.name.rfind("kernel ", 0) == 0 && e.name.find('"') == std::string::npos && !r.crash_title.empty())
      t.diagnostic("crash: " + r.crash_title);
    t.result(e.met, e.name);
  }
  for (auto& f : r.failures) t.diagnostic("failed: " + f);
  if (!r.crash_title.empty()) t.diagnostic("crash: " + r.crash_title);
  if (!r.error.empty()) t.diagnostic("error: " + r.error);
  t.diagnostic(fmt::format("verdict: {} (exit code {}), {:.1f} s", to_string(r.verdict), r.exit_code(), r.seconds));
  t.result(r.verdict == Verdict::Pass, "verdict");
  return t.text(r.scenario) + fmt::format("{} {} {}\n", r.verdict == Verdict::Pass ? "ok" : "not ok", number,
                                          ktap_name(r.scenario));
}

}  // namespace

std::string to_ktap(std::span<const RunReport> runs) {
  std::string out = fmt::format("KTAP version 1\n1..{}\n", runs.size());
  int n = 0;
  for (auto& r : runs) out += scenario_test(r, ++n);
  return out;
}

}  // namespace fb
