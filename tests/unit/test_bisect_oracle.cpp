// The bisect oracle's rules (orchestrator/bisect/oracle.h): what a run and a step of N runs say
// about a commit, how "bad" is learnt at BAD, and the flakiness arithmetic.
#include "orchestrator/bisect/oracle.h"

#include <catch2/catch.hpp>

using namespace fb;

namespace {
const std::string kTitle = "BUG: kernel NULL pointer dereference in getname_flags";
Oracle crash_oracle() {
  Oracle o;
  o.bad_on = BadOn::Crash;
  o.title = kTitle;
  return o;
}
}  // namespace

TEST_CASE("a crash with BAD's title is bad and another crash is masked, never bad") {
  auto o = crash_oracle();
  CHECK(judge_run(o, Verdict::KernelCrash, kTitle, "").cls == RunClass::Bad);
  auto other = judge_run(o, Verdict::KernelCrash, "kernel BUG in proc_fault_inject_write", "");
  CHECK(other.cls == RunClass::Masked);
  CHECK(other.why == "unrelated crash: kernel BUG in proc_fault_inject_write");
  CHECK(judge_run(o, Verdict::Pass, "", "").cls == RunClass::Good);
  // Looking for a crash, a run that finished with an unmet expectation shows the crash is not there.
  CHECK(judge_run(o, Verdict::Fail, "", "").cls == RunClass::Good);
  CHECK(judge_run(o, Verdict::Hang, "", "").cls == RunClass::Masked);
  CHECK(judge_run(o, Verdict::BootError, "", "no console").cls == RunClass::Masked);
  CHECK(judge_run(o, Verdict::InfraError, "", "qemu died").cls == RunClass::Infra);
}

TEST_CASE("the --title option is a regex searched in the crash title") {
  auto o = crash_oracle();
  o.title_regex = "NULL pointer";
  CHECK(judge_run(o, Verdict::KernelCrash, "BUG: kernel NULL pointer dereference in do_mkdirat", "").cls == RunClass::Bad);
  CHECK(judge_run(o, Verdict::KernelCrash, "kernel BUG in x", "").cls == RunClass::Masked);
}

TEST_CASE("with --bad-on fail or hang a crash masks and the other verdict is good") {
  Oracle fail;
  fail.bad_on = BadOn::Fail;
  CHECK(judge_run(fail, Verdict::Fail, "", "").cls == RunClass::Bad);
  CHECK(judge_run(fail, Verdict::KernelCrash, kTitle, "").cls == RunClass::Masked);
  Oracle hang;
  hang.bad_on = BadOn::Hang;
  CHECK(judge_run(hang, Verdict::Hang, "", "").cls == RunClass::Bad);
  CHECK(judge_run(hang, Verdict::Fail, "", "").cls == RunClass::Good);
  Oracle any = crash_oracle();
  any.bad_on = BadOn::Any;
  CHECK(judge_run(any, Verdict::Fail, "", "").cls == RunClass::Bad);
  CHECK(judge_run(any, Verdict::Hang, "", "").cls == RunClass::Bad);
  CHECK(judge_run(any, Verdict::KernelCrash, "another", "").cls == RunClass::Masked);
}

TEST_CASE("a step is bad on any bad run, good only when every run is good, else skip") {
  RunJudgement bad{RunClass::Bad, "crash: x"}, good{RunClass::Good, "pass"}, masked{RunClass::Masked, "hang"},
      infra{RunClass::Infra, "infra error: y"};
  auto s = judge_step({good, good, bad, good, good});
  CHECK(s.verdict == StepVerdict::Bad);
  CHECK(s.bad_runs == 1);
  CHECK(s.runs == 5);
  CHECK(s.why == "crash: x");
  CHECK(judge_step({good, good, good}).verdict == StepVerdict::Good);
  auto m = judge_step({good, masked, good});
  CHECK(m.verdict == StepVerdict::Skip);
  CHECK(m.why == "hang");
  CHECK(judge_step({infra}).verdict == StepVerdict::Skip);
  CHECK(judge_step({masked, bad}).verdict == StepVerdict::Bad);  // a bad run is bad whatever else happened
  CHECK(judge_step({}).verdict == StepVerdict::Skip);
}

TEST_CASE("the oracle comes from BAD: its worst finding, its first crash title") {
  auto o = oracle_from_bad({{Verdict::Pass, "", ""}, {Verdict::KernelCrash, kTitle, ""}, {Verdict::Fail, "", ""}},
                           std::nullopt, "");
  REQUIRE(o.ok());
  CHECK(o->bad_on == BadOn::Crash);
  CHECK(o->title == kTitle);
  auto h = oracle_from_bad({{Verdict::Fail, "", ""}, {Verdict::Hang, "", ""}}, std::nullopt, "");
  REQUIRE(h.ok());
  CHECK(h->bad_on == BadOn::Hang);
  CHECK_FALSE(oracle_from_bad({{Verdict::Pass, "", ""}}, std::nullopt, "").ok());
  auto forced = oracle_from_bad({{Verdict::Pass, "", ""}}, BadOn::Fail, "");
  REQUIRE(forced.ok());
  CHECK(forced->bad_on == BadOn::Fail);
  auto bad_regex = oracle_from_bad({{Verdict::KernelCrash, kTitle, ""}}, std::nullopt, "(unclosed");
  REQUIRE_FALSE(bad_regex.ok());
  CHECK(bad_regex.error().kind == ErrorKind::Usage);
}

TEST_CASE("the chance that a bad commit passes N runs is (1-p)^N") {
  CHECK(chance_bad_called_good(1.0, 1) == Approx(0));
  CHECK(chance_bad_called_good(0.5, 5) == Approx(1.0 / 32));
  CHECK(chance_bad_called_good(0.2, 3) == Approx(0.512));
  CHECK(bad_on_named("hang") == BadOn::Hang);
  CHECK_FALSE(bad_on_named("maybe").has_value());
}
