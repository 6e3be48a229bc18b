// The plan pass (orchestrator/engine/plan.h): what a run needs, and every refusal before boot.
#include "common/files.h"
#include "orchestrator/engine/plan.h"
#include "protocol/fault_types.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <filesystem>
#include <regex>

using namespace fb;
namespace fs = std::filesystem;

namespace {

Scenario scenario(const std::string& text) { return test::parsed_scenario(text, "plan.toml"); }

}  // namespace

TEST_CASE("every scenario of the refused corpus parses, and the plan refuses it at its line with its reason") {
  int cases = 0;
  for (auto& e : fs::directory_iterator(fs::path(FAULTBOX_SOURCE_DIR) / "tests/data/scenarios/refused")) {
    if (e.path().extension() != ".toml") continue;
    ++cases;
    auto text = read_file(e.path());
    REQUIRE(text.ok());
    std::smatch m;
    REQUIRE(std::regex_search(*text, m, std::regex("# error: ([^\n]*)")));
    std::string want = m[1];
    auto sc = load_scenario(e.path());
    INFO(e.path().filename().string() << (sc.ok() ? "" : ": " + sc.error().message));
    REQUIRE(sc.ok());
    auto plan = plan_scenario(*sc);
    REQUIRE_FALSE(plan.ok());
    CHECK(plan.error().kind == ErrorKind::Usage);
    CHECK_THAT(plan.error().message, Catch::StartsWith(e.path().string() + ":"));
    CHECK_THAT(plan.error().message, Catch::Contains(want));
  }
  CHECK(cases >= 8);
}

TEST_CASE("the plan arms each step's faults, fills every registry default, and puts fail_nth on the exec") {
  auto plan = make_plan(scenario(R"(name = "x"
[[fault]]
type = "failslab"
probability = 50
steps = ["a"]
[[fault]]
type = "fail_nth"
nth = 4
steps = ["b"]
[[step]]
name = "a"
run = "true"
[[step]]
name = "b"
run = "true"
)"),
                        {});
  REQUIRE(plan.ok());
  REQUIRE(plan->steps.size() == 2);
  CHECK(plan->steps[0].arm == std::vector<std::size_t>{0});
  CHECK(!plan->steps[0].fail_nth);
  CHECK(plan->steps[1].arm.empty());
  CHECK(plan->steps[1].fail_nth == 1u);
  auto& params = plan->arm_requests[0]["params"];
  CHECK(params["probability"] == 50);  // the scenario's own value wins
  CHECK(params["interval"] == proto::param_default("failslab", "interval"));
  CHECK(params["times"] == -1);
  CHECK(params["verbose"] == 2);
  CHECK(params["task_filter"] == true);
  CHECK(params["ignore_gfp_wait"] == false);
}

TEST_CASE("fail_io_timeout is not task-filtered by default: its check runs in interrupt context") {
  auto plan = make_plan(scenario(R"(name = "x"
[[disk]]
name = "d"
size = "16M"
bus = "ide"
[[fault]]
type = "fail_io_timeout"
target = "disk:d"
[[step]]
name = "s"
run = "true"
)"),
                        {});
  REQUIRE(plan.ok());
  CHECK(plan->arm_requests[0]["params"]["task_filter"] == false);
  CHECK(plan->vm.extra_cmdline == " faultbox.disk=d:d");
}

TEST_CASE("faults of one debugfs type may be armed in turn, and faults of different types at once") {
  auto plan = make_plan(scenario(R"(name = "x"
[[fault]]
type = "failslab"
name = "first"
steps = ["a"]
[[fault]]
type = "failslab"
name = "second"
steps = ["b"]
[[fault]]
type = "fail_page_alloc"
[[step]]
name = "a"
run = "true"
[[step]]
name = "b"
run = "true"
)"),
                        {});
  INFO((plan.ok() ? std::string() : plan.error().message));
  REQUIRE(plan.ok());
  CHECK(plan->steps[0].arm == std::vector<std::size_t>{0, 2});
  CHECK(plan->steps[1].arm == std::vector<std::size_t>{1, 2});
}

TEST_CASE("the plan refuses a function outside the kernel's error-injection list when the list is known") {
  auto sc = scenario(R"(name = "x"
[[fault]]
type = "bpf_override"
function = "vfs_read"
[[step]]
name = "s"
run = "true"
)");
  CHECK(make_plan(sc, {}).ok());  // unknown list: the booted kernel's is checked instead
  ErrorInjectionList list{"6.1.0", "test", {{"should_failslab", "ERRNO"}}};
  auto plan = make_plan(sc, {list});
  REQUIRE_FALSE(plan.ok());
  CHECK_THAT(plan.error().message, Catch::Contains("'vfs_read' is not injectable"));
}

TEST_CASE("the scenario schema's fault sections are the registry's types and parameters") {
  for (auto& t : proto::fault_types()) {
    const SectionSpec* section = nullptr;
    for (auto& s : scenario_schema())
      if (s.name == std::string("fault.") + t.name) section = &s;
    INFO(t.name);
    REQUIRE(section);
    for (auto& p : t.params) {
      auto key = std::find_if(section->keys.begin(), section->keys.end(), [&](const KeySpec& k) { return k.key == std::string(p.key); });
      REQUIRE(key != section->keys.end());
      CHECK(key->required == p.required);
      if (p.default_value && p.kind == proto::ParamKind::Int)
        CHECK_THAT(key->doc, Catch::EndsWith(fmt::format("(default {})", *p.default_value)));
    }
  }
}

TEST_CASE("the plan refuses an exec request line over the agent's 1 MiB, and a 33rd command at once") {
  // 200000 control characters: 200 KB of argv (under 256 KiB) but 1.2 MB of JSON on the wire.
  std::string escapes;
  for (int i = 0; i < 200000; ++i) escapes += "\\u0001";
  auto wide = make_plan(scenario("name = \"x\"\n[[step]]\nname = \"s\"\nrun = \"true " + escapes + "\"\n"), {});
  REQUIRE_FALSE(wide.ok());
  CHECK_THAT(wide.error().message, Catch::StartsWith("plan.toml:2:1: step 's': its exec request would be a control line"));
  CHECK_THAT(wide.error().message, Catch::Contains("at most 1048576 bytes (1 MiB)"));

  std::string steps;
  for (int i = 0; i < 32; ++i) steps += fmt::format("[[step]]\nname = \"bg{}\"\nrun = \"sleep 9\"\nbackground = true\n", i);
  CHECK(make_plan(scenario("name = \"x\"\n" + steps), {}).ok());  // 32 at once is the limit
  auto many = make_plan(scenario("name = \"x\"\n" + steps + "[[step]]\nname = \"last\"\nrun = \"true\"\n"), {});
  REQUIRE_FALSE(many.ok());
  CHECK_THAT(many.error().message, Catch::StartsWith("plan.toml:130:1: step 'last' would start while 32 background steps"));
  CHECK_THAT(many.error().message, Catch::Contains("at most 32 commands at once"));
}
