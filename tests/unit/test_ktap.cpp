// KTAP output (orchestrator/engine/ktap.h) of judged reports: the shape kernel CI parsers read.
// That the kernel's own kunit_parser.py reads real runs' KTAP is tests/package/test_package.sh.
#include "orchestrator/engine/judge.h"
#include "orchestrator/engine/ktap.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>

using namespace fb;

namespace {

Scenario scenario(const std::string& text) { return test::parsed_scenario(text, "ktap.toml"); }

StepResult step(const std::string& name, std::vector<std::string> failures = {}) {
  StepResult s;
  s.name = name;
  s.finished = true;
  s.status.code = 0;
  s.failures = std::move(failures);
  return s;
}

const char* kFailslab = R"(name = "failslab # one task"
[[fault]]
type = "failslab"
[[step]]
name = "marked"
run = "true"
[expect]
dmesg_contains = ["FAULT_INJECTION"]
)";

}  // namespace

TEST_CASE("a passing run is one ok test with an ok subtest per step, expectation and the verdict") {
  auto sc = scenario(kFailslab);
  RunReport r;
  r.scenario = sc.name;
  r.steps = {step("marked")};
  FaultResult f;
  f.name = f.type = "failslab";
  f.fired = 2;
  f.armed = 1;
  r.faults = {f};
  r.kmsg = "FAULT_INJECTION: forcing a failure.\n";
  judge(r, sc, {});
  REQUIRE(r.verdict == Verdict::Pass);
  std::string k = to_ktap({&r, 1});
  CHECK(k == "KTAP version 1\n"
             "1..1\n"
             "    KTAP version 1\n"
             "    # Subtest: failslab _ one task\n"
             "    1..5\n"
             "    # step marked: exit code 0, 0.00 s\n"
             "    ok 1 step marked\n"
             "    # fault failslab (failslab): fired 2 time(s); 0 logged, 0 distinct stack(s)\n"
             "    ok 2 fault failslab fired\n"
             "    ok 3 kernel log contains \"FAULT_INJECTION\"\n"
             "    ok 4 kernel no-crash\n"
             "    # verdict: pass (exit code 0), 0.0 s\n"
             "    ok 5 verdict\n"
             "ok 1 failslab _ one task\n");
}

TEST_CASE("an unmet expectation, a crash and an error are not-ok subtests with the reason as a diagnostic") {
  auto sc = scenario(kFailslab);
  RunReport r;
  r.scenario = sc.name;
  r.steps = {step("marked", {"exit 1 (expected 0)"})};
  // Guest text: each of its lines a diagnostic of its own, so none can pass for a result line.
  r.crash_title = "BUG: unable to handle page fault\nok 9 in kmem_cache_alloc";
  judge(r, sc, {RunEnd::How::KernelCrash, make_error(ErrorKind::Boot, "kernel crash during step marked")});
  REQUIRE(r.verdict == Verdict::KernelCrash);
  std::string k = to_ktap({&r, 1});
  CHECK_THAT(k, Catch::Contains("    # exit 1 (expected 0)\n    not ok 1 step marked\n"));
  CHECK_THAT(k, Catch::Contains("    not ok 2 kernel log contains \"FAULT_INJECTION\"\n"));
  CHECK_THAT(k, Catch::Contains("    # crash: BUG: unable to handle page fault\n    # ok 9 in kmem_cache_alloc\n    not ok 3 kernel no-crash\n"));
  CHECK_THAT(k, Catch::Contains("    # error: kernel crash during step marked\n"));
  CHECK_THAT(k, Catch::Contains("    not ok 4 verdict\nnot ok 1 failslab _ one task\n"));
}

TEST_CASE("a run that ended before its expectations were weighed still fails through its verdict subtest") {
  auto sc = scenario(kFailslab);
  RunReport r;
  r.scenario = sc.name;
  judge(r, sc, {RunEnd::How::Hang, make_error(ErrorKind::Timeout, "no heartbeat")});
  std::string k = to_ktap({&r, 1});
  // The kernel log is judged whatever ended the run; "kernel no-crash" is not (a hang says nothing of it).
  CHECK_THAT(k, Catch::Contains("    1..2\n    not ok 1 kernel log contains"));
  CHECK_THAT(k, Catch::EndsWith("    not ok 2 verdict\nnot ok 1 failslab _ one task\n"));
}

TEST_CASE("several runs are numbered tests of one KTAP document") {
  RunReport a, b;
  a.scenario = "a";
  a.verdict = Verdict::Pass;
  b.scenario = "b";
  b.verdict = Verdict::Fail;
  std::vector<RunReport> runs = {a, b};
  std::string k = to_ktap(runs);
  CHECK_THAT(k, Catch::StartsWith("KTAP version 1\n1..2\n"));
  CHECK_THAT(k, Catch::Contains("\nok 1 a\n"));
  CHECK_THAT(k, Catch::EndsWith("\nnot ok 2 b\n"));
}
