// The verdict rules (orchestrator/engine/judge.h): each case is one way a verdict used to lie.
#include "orchestrator/engine/judge.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>

using namespace fb;

namespace {

Scenario scenario(const std::string& text) { return test::parsed_scenario(text, "judge.toml"); }

StepResult finished_step(const std::string& name, std::vector<std::string> failures = {}) {
  StepResult s;
  s.name = name;
  s.finished = true;
  s.failures = std::move(failures);
  return s;
}

FaultResult fault(const std::string& name, std::int64_t fired, int armed = 1, bool may_not_fire = false) {
  FaultResult f;
  f.name = f.type = name;
  f.fired = fired;
  f.armed = armed;
  f.may_not_fire = may_not_fire;
  return f;
}

const char* kExpectedCrash = R"(name = "x"
[[fault]]
type = "fail_make_request"
target = "disk:d"
[[disk]]
name = "d"
size = "16M"
[[step]]
name = "synced"
run = "true"
[[step]]
name = "crash"
run = "true"
[expect]
kernel = "crash"
injected_min = 2
)";

}  // namespace

TEST_CASE("an expected crash passes only when the steps before it met their expectations") {
  auto sc = scenario(kExpectedCrash);
  RunReport r;
  r.steps = {finished_step("synced", {"exit 1 (expected 0)"})};
  r.faults = {fault("fail_make_request", 3)};
  judge(r, sc, {RunEnd::How::KernelCrash, make_error(ErrorKind::Boot, "kernel crash during step crash: BUG")});
  CHECK(r.verdict == Verdict::Fail);
  CHECK(r.exit_code() == 1);
  CHECK_THAT(r.to_junit(), Catch::Contains("failures=\"2\""));
  r.steps = {finished_step("synced")};
  judge(r, sc, {RunEnd::How::KernelCrash, make_error(ErrorKind::Boot, "kernel crash during step crash: BUG")});
  CHECK(r.verdict == Verdict::Pass);
  CHECK_THAT(r.to_junit(), Catch::Contains("failures=\"0\""));
}

TEST_CASE("an expected crash still checks injected_min") {
  auto sc = scenario(kExpectedCrash);
  RunReport r;
  r.steps = {finished_step("synced")};
  r.faults = {fault("fail_make_request", 1)};
  judge(r, sc, {RunEnd::How::KernelCrash, std::nullopt});
  CHECK(r.verdict == Verdict::Fail);
  REQUIRE(r.failures.size() == 1);
  CHECK_THAT(r.failures[0], Catch::Contains("fired 1 time(s), expected at least 2"));
}

TEST_CASE("a fault that was armed and never fired fails the run unless the scenario allows it") {
  auto sc = scenario(R"(name = "x"
[[fault]]
type = "failslab"
[[step]]
name = "s"
run = "true"
)");
  RunReport r;
  r.steps = {finished_step("s")};
  r.faults = {fault("failslab", 0)};
  judge(r, sc, {});
  CHECK(r.verdict == Verdict::Fail);
  CHECK_THAT(r.failures.at(0), Catch::Contains("never fired"));
  r.faults = {fault("failslab", 0, 1, /*may_not_fire=*/true)};
  judge(r, sc, {});
  CHECK(r.verdict == Verdict::Pass);
  // A fault whose steps never ran (the run ended first) is not judged for firing.
  r.faults = {fault("failslab", 0, /*armed=*/0)};
  judge(r, sc, {RunEnd::How::KernelCrash, std::nullopt});
  CHECK(r.failures.empty());
}

TEST_CASE("an unexpected crash, a hang and errors keep their verdict, and the failures are still listed") {
  auto sc = scenario(R"(name = "x"
[[step]]
name = "s"
run = "true"
expect_exit = 3
)");
  RunReport r;
  r.steps = {finished_step("s", {"exit 0 (expected 3)"})};
  judge(r, sc, {RunEnd::How::KernelCrash, std::nullopt});
  CHECK(r.verdict == Verdict::KernelCrash);
  CHECK(r.exit_code() == 3);
  CHECK(r.failures.size() == 1);
  judge(r, sc, {RunEnd::How::Hang, make_error(ErrorKind::Timeout, "step s: timed out")});
  CHECK(r.verdict == Verdict::Hang);
  CHECK(r.exit_code() == 4);
  CHECK(r.error == "step s: timed out");
}

TEST_CASE("one table maps every error kind to a verdict and an exit code, for run and exec alike") {
  CHECK(exit_code_of(verdict_of(ErrorKind::Usage)) == 2);
  CHECK(exit_code_of(verdict_of(ErrorKind::Timeout)) == 4);
  CHECK(exit_code_of(verdict_of(ErrorKind::Infra)) == 5);
  CHECK(exit_code_of(verdict_of(ErrorKind::Protocol)) == 5);
  // A kernel that did not boot is a boot error (6), never a kernel crash (3).
  CHECK(verdict_of(ErrorKind::Boot) == Verdict::BootError);
  CHECK(exit_code_of(Verdict::BootError) == 6);
  auto sc = scenario("name = \"x\"\n[[step]]\nname = \"s\"\nrun = \"true\"\n");
  RunReport r;
  judge(r, sc, {RunEnd::How::Error, make_error(ErrorKind::Boot, "agent silent past the boot timeout")});
  CHECK(r.verdict == Verdict::BootError);
  CHECK(r.to_json()["verdict"] == "boot-error");
  CHECK(r.to_json()["exit_code"] == 6);
  for (auto& row : kVerdicts) CHECK(verdict_named(row.name) == row.verdict);
}
