// `faultbox run --jobs 2 --repeat 4` of three disk-less examples on the qemu backend: 12 runs in
// worker processes, two VMs at a time, merged reports, nothing left behind.
#include "tests/vm/vm_support.h"

#include <catch2/catch.hpp>

#include <regex>

using namespace fb;
using namespace fb::test;

TEST_CASE("run --jobs 2 --repeat 4 of three examples: 12 results, merged JSON and JUnit, no leaked file or process") {
  ScratchDir rt;
  auto json_path = rt.path() / "merged.json", junit_path = rt.path() / "merged.xml";
  auto r = faultbox_in(rt, "run",
                       {source("examples/failslab-one-task.toml"), source("examples/fail-futex-wait-efault.toml"),
                        source("examples/fail-page-alloc-fork-enomem.toml"), "--jobs", "2", "--repeat", "4", "--json",
                        json_path.string(), "--junit", junit_path.string()});
  INFO(r.out << r.err);
  CHECK(r.status.code == 0);
  std::regex line(R"(^\[(\d+)/12\] (failslab-one-task|fail-futex-wait-efault|fail-page-alloc-fork-enomem) #[1-4] pass \d+\.\ds$)");
  int progress = 0;
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);)
    if (std::regex_match(l, line)) ++progress;
  CHECK(progress == 12);
  CHECK_THAT(r.out, Catch::Contains("verdict: pass (12 runs, --jobs 2,"));
  auto text = read_file(json_path);
  REQUIRE(text.ok());
  auto j = nlohmann::json::parse(*text);
  CHECK(j["verdict"] == "pass");
  REQUIRE(j["runs"].size() == 12);
  for (auto& run : j["runs"]) {
    CHECK(run["verdict"] == "pass");
    CHECK(run["report"]["faults"][0]["fired"].get<int>() > 0);  // each run's own counts, as its worker reported
  }
  REQUIRE(j["summary"].size() == 3);
  for (auto& s : j["summary"]) CHECK(s["pass"] == 4);
  auto junit = read_file(junit_path);
  REQUIRE(junit.ok());
  CHECK_THAT(*junit, Catch::Contains("<testsuites name=\"faultbox run\""));
  std::size_t suites = 0;
  for (std::size_t pos = 0; (pos = junit->find("<testsuite ", pos)) != std::string::npos; ++pos) ++suites;
  CHECK(suites == 12);
  CHECK_FALSE(std::filesystem::exists(rt.path() / "state/faultbox/runs"));  // all passed: no evidence
  require_no_leftovers(rt);
}
