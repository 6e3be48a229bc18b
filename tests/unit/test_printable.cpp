// Guest text shown to a person (orchestrator/core/printable.h): control and escape sequences are
// made visible in the text report, while the JSON report keeps the guest's bytes as they were.
#include "orchestrator/core/printable.h"
#include "orchestrator/engine/report.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace fb;

namespace {

// What a hostile step prints: retitle the terminal (OSC 0 ... BEL), clear it (CSI 2J), C1 CSI.
const std::string kHostile = "\x1b]0;pwned\x07\x1b[2J\r\x7f\xc2\x9b" "2J";
const std::string kHostileShown = "\\x1b]0;pwned\\x07\\x1b[2J\\x0d\\x7f\\xc2\\x9b2J";

bool has_control_bytes(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\n' && c != '\t') || u == 0x7f;
  });
}

}  // namespace

TEST_CASE("printable shows control bytes as \\xNN, keeps layout and UTF-8 only where asked") {
  CHECK(printable(kHostile, std::string::npos, TextLayout::Lines) == kHostileShown);
  CHECK(printable("a\tb\nc", std::string::npos, TextLayout::Lines) == "a\tb\nc");
  CHECK(printable("a\tb\nc") == "a\\x09b\\x0ac");
  CHECK(printable("caf\xc3\xa9 \xe2\x80\x94 ok", std::string::npos, TextLayout::Lines) == "caf\xc3\xa9 \xe2\x80\x94 ok");
  CHECK(printable("caf\xc3\xa9") == "caf\\xc3\\xa9");
  // Invalid UTF-8 (a lone continuation byte, a truncated sequence, an overlong '/') is escaped.
  CHECK(printable("\x80|\xe2\x80|\xc0\xaf", std::string::npos, TextLayout::Lines) == "\\x80|\\xe2\\x80|\\xc0\\xaf");
  CHECK(printable("abcdef", 3) == "abc");
}

TEST_CASE("the text report shows the guest's escape sequences visibly, the JSON report keeps them raw") {
  RunReport r;
  r.scenario = "hostile";
  StepResult s;
  s.name = "title";
  s.finished = true;
  s.out = "before\n" + kHostile + "\nafter\n";
  s.err = kHostile;
  s.failures = {"stdout lacks 'x' (it was " + kHostile + ")"};
  s.snapshots = {{"/proc/x", "k: " + kHostile, "k: 2"}};
  r.steps = {s};
  FaultResult f;
  f.armed = 1;  // a fault whose steps never ran is left out of the text report
  f.name = f.type = "dm_dust";
  f.stacks = {"a <- " + kHostile};
  f.details = {{"list_before", kHostile}};
  NthRun n;
  n.nth = 1;
  n.injected = true;
  n.site = "failslab: " + kHostile;
  n.stderr_line = kHostile;
  f.nth_runs = {n};
  f.notes = {kHostile};
  r.faults = {f};
  r.error = "step title: " + kHostile;
  r.crash_title = "kernel BUG in x";
  r.crash_report = "[    1.0] kernel BUG at x\n[    1.0] Comm: " + kHostile + "\n";
  r.warnings = {kHostile};

  std::string text = r.to_text();
  INFO(text);
  CHECK_FALSE(has_control_bytes(text));
  CHECK(text.find("\x1b") == std::string::npos);
  CHECK(text.find("\xc2\x9b") == std::string::npos);
  CHECK(text.find("    stdout: before\n            " + kHostileShown + "\n            after\n") != std::string::npos);
  CHECK(text.find("    stderr: " + kHostileShown + "\n") != std::string::npos);
  CHECK(text.find("error: step title: " + kHostileShown + "\n") != std::string::npos);
  CHECK(text.find("crash report:\n[    1.0] kernel BUG at x\n[    1.0] Comm: " + kHostileShown) != std::string::npos);
  CHECK(text.find("    list_before: " + kHostileShown) != std::string::npos);

  auto j = r.to_json();
  CHECK(j["steps"][0]["stdout"] == s.out);
  CHECK(j["steps"][0]["stderr"] == kHostile);
  CHECK(j["error"] == r.error);
}
