// Many runs at once (orchestrator/engine/batch.h) without starting any: the worst verdict, the
// slots, the default --jobs, the progress line, and the merged summary, JSON and JUnit.
#include "orchestrator/engine/batch.h"

#include <catch2/catch.hpp>

using namespace fb;
namespace fs = std::filesystem;

namespace {

RunOutcome outcome(Verdict v, double seconds = 1.0, std::string crash = {}) {
  RunOutcome o;
  o.has_report = true;
  o.report.scenario = "s";
  o.report.verdict = v;
  o.report.seconds = seconds;
  o.report.crash_title = std::move(crash);
  StepResult step;
  step.name = "only";
  step.finished = true;
  if (v == Verdict::Fail) step.failures = {"exit 1 (expected 0)"};
  o.report.steps.push_back(step);
  o.report_json = o.report.to_json();
  return o;
}

BatchResult batch_of(std::vector<std::pair<BatchRun, RunOutcome>> done) {
  BatchResult b;
  for (auto& [run, o] : done) {
    b.runs.push_back(run);
    b.outcomes.push_back(o);
    b.finished.push_back(true);
  }
  b.jobs = 2;
  b.seconds = 12.5;
  return b;
}

}  // namespace

TEST_CASE("the worst verdict: usage, infra, boot, then crash, hang, fail, pass, by the table alone") {
  std::vector<Verdict> from_worst = {Verdict::UsageError, Verdict::InfraError, Verdict::BootError, Verdict::KernelCrash,
                                     Verdict::Hang, Verdict::Fail, Verdict::Pass};
  for (std::size_t i = 0; i < from_worst.size(); ++i)
    for (std::size_t j = i; j < from_worst.size(); ++j) {
      CHECK(worst(from_worst[i], from_worst[j]) == from_worst[i]);
      CHECK(worst(from_worst[j], from_worst[i]) == from_worst[i]);
    }
  // Every verdict has its own severity, so "worst" never depends on argument order.
  for (auto& a : kVerdicts)
    for (auto& b : kVerdicts)
      if (a.verdict != b.verdict) CHECK(a.severity != b.severity);
}

TEST_CASE("a batch's verdict and exit code are its worst run's, unfinished runs not counted") {
  BatchRun a{"a", "a.toml", 1}, b{"b", "b.toml", 1};
  auto batch = batch_of({{a, outcome(Verdict::Pass)}, {b, outcome(Verdict::Hang)}, {a, outcome(Verdict::Fail)}});
  CHECK(batch.verdict() == Verdict::Hang);
  batch.outcomes.push_back(outcome(Verdict::KernelCrash));
  batch.runs.push_back(b);
  batch.finished.push_back(false);  // interrupted before it ended
  CHECK(batch.verdict() == Verdict::Hang);
  CHECK(batch_of({{a, outcome(Verdict::Pass)}}).verdict() == Verdict::Pass);
}

TEST_CASE("slots hand out no more than their capacity and spread runs over slots by free room") {
  SlotPool one({Slot{"local", 2, {}}});
  CHECK(one.capacity() == 2);
  CHECK(one.acquire() == 0u);
  CHECK(one.acquire() == 0u);
  CHECK_FALSE(one.acquire().has_value());
  one.release(0);
  CHECK(one.busy() == 1);
  CHECK(one.acquire() == 0u);

  SlotPool two({Slot{"a", 2, {}}, Slot{"b", 3, {"--connect", "qemu+ssh://b/system"}}});
  std::vector<std::size_t> got;
  while (auto s = two.acquire()) got.push_back(*s);
  CHECK(got == std::vector<std::size_t>{1, 0, 1, 0, 1});
  CHECK(two.slot(1).worker_args.size() == 2);
}

TEST_CASE("runs are every scenario K times, labelled by file stem and repeat") {
  auto runs = expand_runs({"examples/a-b.toml", "c.toml"}, 3);
  REQUIRE(runs.size() == 6);
  CHECK(runs[0].label == "a-b");
  CHECK(runs[2].repeat == 3);
  CHECK(runs[3].file == fs::path("c.toml"));
  CHECK(runs[3].repeat == 1);
}

TEST_CASE("the progress line of a finished run") {
  BatchRun run{"failslab-one-task", "examples/failslab-one-task.toml", 2};
  CHECK(progress_line(3, 20, run, outcome(Verdict::Pass, 4.08)) == "[3/20] failslab-one-task #2 pass 4.1s");
  CHECK(progress_line(4, 20, run, outcome(Verdict::KernelCrash, 12.0)) == "[4/20] failslab-one-task #2 kernel-crash 12.0s");
}

TEST_CASE("default --jobs: the smaller of cores per VM and memory per VM, never more than the runs, at least 1") {
  auto by_cores = default_jobs({2, 24000}, 256, 1, 12);
  CHECK(by_cores.jobs == 2);
  CHECK_THAT(by_cores.reason, Catch::Contains("limited by cores"));
  auto by_memory = default_jobs({16, 1000}, 256, 1, 12);
  CHECK(by_memory.jobs == 1000 / (256 + kQemuOverheadMib));
  CHECK_THAT(by_memory.reason, Catch::Contains("limited by memory"));
  CHECK(default_jobs({16, 64000}, 256, 1, 3).jobs == 3);
  CHECK(default_jobs({2, 24000}, 256, 4, 12).jobs == 1);  // a 4-vCPU VM on 2 cores
  CHECK(default_jobs({2, 100}, 4096, 1, 12).jobs == 1);   // too little memory still runs one
  CHECK(by_cores.reason.find('\n') == std::string::npos);
}

TEST_CASE("a worker without a report: its exit code's verdict and its last faultbox line") {
  auto boot = outcome_without_report(ExitStatus{6, 0}, "faultbox: accel: tcg\nfaultbox: boot: the agent never answered\n");
  CHECK(boot.verdict() == Verdict::BootError);
  CHECK_THAT(boot.report.error, Catch::Contains("boot: the agent never answered"));
  CHECK_FALSE(boot.has_report);
  CHECK(outcome_without_report(ExitStatus{-1, 9}, "").verdict() == Verdict::InfraError);
  // A worker that exits 0 writes its report; without one, the machinery failed.
  CHECK(outcome_without_report(ExitStatus{0, 0}, "").verdict() == Verdict::InfraError);
}

TEST_CASE("a run report reads back from its JSON with what the merged reports need") {
  RunReport r;
  r.scenario = "name with \"quotes\"";
  r.file = "x.toml";
  r.verdict = Verdict::KernelCrash;
  r.seconds = 3.25;
  r.error = "the VM ended under step s";
  r.failures = {"f1"};
  r.crash_title = "BUG: kernel NULL pointer dereference, address: 0000000000000000";
  r.crash_report = "<4>[    1.0] BUG: ...";
  StepResult s;
  s.name = "s";
  s.finished = false;
  s.seconds = 1.5;
  s.failures = {"did not finish"};
  r.steps.push_back(s);
  auto back = report_from_json(r.to_json());
  REQUIRE(back.ok());
  CHECK(back->scenario == r.scenario);
  CHECK(back->verdict == Verdict::KernelCrash);
  CHECK(back->seconds == 3.25);
  CHECK(back->error == r.error);
  CHECK(back->failures == r.failures);
  CHECK(back->crash_title == r.crash_title);
  REQUIRE(back->steps.size() == 1);
  CHECK(back->steps[0].failures == s.failures);
  CHECK(back->to_junit() == r.to_junit());
  CHECK_FALSE(report_from_json(nlohmann::json{{"verdict", "maybe"}}).ok());
  CHECK_FALSE(report_from_json(nlohmann::json::array()).ok());
}

TEST_CASE("the summary counts verdicts per scenario and lists distinct crash titles once each") {
  BatchRun a1{"alpha", "alpha.toml", 1}, a2{"alpha", "alpha.toml", 2}, a3{"alpha", "alpha.toml", 3};
  BatchRun b1{"beta", "beta.toml", 1};
  auto batch = batch_of({{a1, outcome(Verdict::Pass)},
                         {a2, outcome(Verdict::KernelCrash, 2, "BUG: unable to handle page fault")},
                         {a3, outcome(Verdict::KernelCrash, 2, "BUG: unable to handle page fault")},
                         {b1, outcome(Verdict::Fail)}});
  auto text = batch.summary();
  INFO(text);
  CHECK_THAT(text, Catch::Contains("scenario  runs   pass   fail  usage-error  kernel-crash   hang  infra-error  boot-error"));
  CHECK_THAT(text, Catch::Contains("alpha        3      1      0            0             2      0            0           0"));
  CHECK_THAT(text, Catch::Contains("beta         1      0      1"));
  CHECK_THAT(text, Catch::Contains("    crash (2 runs): BUG: unable to handle page fault"));
  CHECK_THAT(text, Catch::EndsWith("verdict: kernel-crash (4 runs, --jobs 2, 12.5 s)\n"));

  auto j = batch.to_json();
  CHECK(j["verdict"] == "kernel-crash");
  CHECK(j["exit_code"] == 3);
  REQUIRE(j["runs"].size() == 4);
  CHECK(j["runs"][1]["repeat"] == 2);
  CHECK(j["runs"][1]["report"]["crash"]["title"] == "BUG: unable to handle page fault");
  REQUIRE(j["summary"].size() == 2);
  CHECK(j["summary"][0]["kernel-crash"] == 2);
  CHECK(j["summary"][0]["crash_titles"].size() == 1);
  CHECK(j["summary"][0]["crash_titles"][0]["runs"] == 2);

  auto junit = batch.to_junit();
  CHECK_THAT(junit, Catch::StartsWith("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"faultbox run\" tests=\"8\" failures=\"4\""));
  CHECK_THAT(junit, Catch::Contains("<testsuite name=\"alpha #3\""));
  CHECK_THAT(junit, Catch::Contains("<testsuite name=\"beta #1\""));
  CHECK(junit.find("<?xml", 1) == std::string::npos);  // one document, not four glued together
  CHECK_THAT(junit, Catch::EndsWith("</testsuites>\n"));
}
