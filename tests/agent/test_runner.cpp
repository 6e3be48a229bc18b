// The run engine on the fake backend: the real agent (a host process), real protocol, real
// arming through debugfs files, with a debugfs tree the test makes. The step plays the kernel's
// part by using up `times`, so the ledger's fired count has a known answer.
#include "common/files.h"
#include "orchestrator/engine/plan.h"
#include "orchestrator/engine/runner.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>

using namespace fb;
using namespace fb::test;
namespace fs = std::filesystem;

namespace {

// A debugfs stand-in with failslab's knobs, as the agent finds them in a guest.
fs::path fake_debugfs(const ScratchDir& dir) {
  fs::path failslab = dir.path() / "debugfs/failslab";
  fs::create_directories(failslab);
  for (const char* knob : {"probability", "interval", "times", "space", "verbose", "task-filter", "ignore-gfp-wait",
                           "cache-filter"})
    REQUIRE(write_file_atomic(failslab / knob, "0\n"));
  return dir.path() / "debugfs";
}

// What a knob holds as the kernel would read the last write: the agent writes in place, as to a
// debugfs attribute, so a shorter value leaves the tail of a longer one in a plain file.
std::string knob(const fs::path& debugfs, const std::string& name) {
  auto text = read_file(debugfs / "failslab" / name);
  REQUIRE(text.ok());
  std::string v = text->substr(0, text->find_first_of(" \n"));
  if (!v.empty() && isdigit(static_cast<unsigned char>(v[0]))) return std::to_string(std::stoll(v));
  return v;
}

RunPlan fake_plan(const std::string& text, const fs::path& debugfs) {
  auto sc = parse_scenario_text(text, "engine.toml");
  INFO((sc.ok() ? std::string() : sc.error().message));
  REQUIRE(sc.ok());
  auto plan = make_plan(*sc, {});
  REQUIRE(plan.ok());
  plan->vm.backend = "fake";
  plan->vm.agent = agent_binary();
  plan->vm.agent_args = {"--debugfs-root", debugfs.string()};
  return *plan;
}

std::string scenario_using_up_times(const fs::path& debugfs, int used) {
  // The agent writes a large `times` for "no limit"; the step leaves `used` fewer.
  return fmt::format(R"(name = "engine on the fake backend"
[[fault]]
type = "failslab"
steps = ["fires"]
task_filter = false  # the host kernel has no make-it-fail to mark the step with
[[step]]
name = "fires"
run = "echo $((2147483647 - {})) > {}/failslab/times; echo fired"
expect_stdout = ["fired"]
[[step]]
name = "after"
run = ["echo", "done"]
expect_exit = 0
)",
                     used, debugfs.string());
}

}  // namespace

TEST_CASE("the runner arms a step's faults with the registry's defaults, counts what fired, and disarms") {
  ScratchDir dir;
  auto debugfs = fake_debugfs(dir);
  auto plan = fake_plan(scenario_using_up_times(debugfs, 3), debugfs);
  RunReport r = run_plan(plan, {});
  INFO(r.to_text());
  CHECK(r.verdict == Verdict::Pass);
  REQUIRE(r.steps.size() == 2);
  CHECK(r.steps[0].finished);
  CHECK(r.steps[1].out == "done\n");
  REQUIRE(r.faults.size() == 1);
  CHECK(r.faults[0].fired == 3);
  CHECK(r.faults[0].armed == 1);
  // Armed with the registry's defaults, and left disarmed.
  CHECK(knob(debugfs, "verbose") == "2");
  CHECK(knob(debugfs, "interval") == "1");
  CHECK(knob(debugfs, "probability") == "0");
  CHECK(knob(debugfs, "task-filter") == "N");
}

TEST_CASE("the runner's verdict fails a run whose fault never fired") {
  ScratchDir dir;
  auto debugfs = fake_debugfs(dir);
  auto plan = fake_plan(scenario_using_up_times(debugfs, 0), debugfs);
  RunReport r = run_plan(plan, {});
  CHECK(r.verdict == Verdict::Fail);
  CHECK(r.exit_code() == 1);
  REQUIRE(r.failures.size() == 1);
  CHECK_THAT(r.failures[0], Catch::Contains("never fired"));
}

TEST_CASE("one VM runs plan after plan while it stays healthy, each with its own counts") {
  ScratchDir dir;
  auto debugfs = fake_debugfs(dir);
  auto first = fake_plan(scenario_using_up_times(debugfs, 2), debugfs);
  auto second = fake_plan(scenario_using_up_times(debugfs, 5), debugfs);
  auto session = Session::boot(first.vm);
  REQUIRE(session.ok());
  Runner runner(**session, {});
  REQUIRE(runner.attach({}).ok());
  for (auto [plan, fired] : {std::pair{&first, 2}, std::pair{&second, 5}}) {
    RunReport r;
    auto end = runner.run(*plan, r);
    judge(r, plan->scenario, end);
    INFO(r.to_text());
    CHECK(r.verdict == Verdict::Pass);
    REQUIRE(r.faults.size() == 1);
    CHECK(r.faults[0].fired == fired);
    CHECK(runner.healthy());
  }
}

TEST_CASE("a step the agent cannot start ends the run as a usage error at the fault's line, nothing left armed") {
  ScratchDir dir;
  auto debugfs = fake_debugfs(dir);
  // fail_page_alloc has no knobs in this debugfs: the agent refuses to arm it.
  auto plan = fake_plan(R"(name = "x"
[[fault]]
type = "failslab"
task_filter = false
[[fault]]
type = "fail_page_alloc"
[[step]]
name = "s"
run = "true"
)",
                        debugfs);
  RunReport r = run_plan(plan, {});
  CHECK(r.verdict == Verdict::UsageError);
  CHECK_THAT(r.error, Catch::Contains("engine.toml:5:1"));
  CHECK(knob(debugfs, "probability") == "0");  // the first was disarmed again
}
