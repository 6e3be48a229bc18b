// bpf_override (S6): a BPF program the agent assembles and attaches to a kprobe makes an
// ALLOW_ERROR_INJECTION function fail for the step's cgroup only; anything else is refused
// before boot. Proof of firing is the program's own counter and stacks.
#include "common/files.h"
#include "tests/vm/vm_support.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <regex>
#include <sstream>

using namespace fb;
using namespace fb::test;

TEST_CASE("run: bpf_override makes should_failslab fail the step's mkdir with ENOMEM, nothing else (S6)") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_in(rt, "run", {source("examples/bpf-override-should-failslab.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  CHECK_THAT(r.out, Catch::Contains("verdict: pass"));
  auto j = nlohmann::json::parse(*read_file(json_path));
  REQUIRE(j["faults"].size() == 1);
  CHECK(j["faults"][0]["type"] == "bpf_override");
  CHECK(j["faults"][0]["fired"].get<int>() >= 1);
  // the stacks come from the BPF stack map, named through the guest's /proc/kallsyms
  std::string stacks = j["faults"][0]["stacks"].dump();
  CHECK_THAT(stacks, Catch::Contains("should_failslab <- "));
  CHECK_THAT(stacks, Catch::Contains("__x64_sys_mkdir"));
  CHECK_THAT(j["steps"][0]["stderr"].get<std::string>(), Catch::Contains("Cannot allocate memory"));
  // armed during the second step too, which never entered its target cgroup: untouched
  CHECK(j["steps"][1]["exit_code"] == 0);
  CHECK_THAT(j["steps"][1]["stdout"].get<std::string>(), Catch::Contains("made"));
  require_no_leftovers(rt);
}

TEST_CASE("run: bpf_override probability 50 overrides some but not all calls, and the count is exact") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_in(rt, "run", {source("tests/data/scenarios/vm/bpf-override-probability.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = nlohmann::json::parse(*read_file(json_path));
  std::smatch m;
  std::string out = j["steps"][0]["stdout"];
  REQUIRE(std::regex_search(out, m, std::regex("failed=(\\d+) of=200")));
  int failed = std::stoi(m[1]);
  int fired = j["faults"][0]["fired"];
  CHECK(fired == failed);  // one __x64_sys_mkdir per mkdir(2): the BPF counter is exact
  CHECK(fired > 0);
  CHECK(fired < 200);
  CHECK(j["faults"][0]["eligible"] == 200);  // every mkdir of the step reached the program
  // disarmed: mkdir works again, and the agent kept answering throughout
  CHECK(j["steps"][1]["exit_code"] == 0);
  require_no_leftovers(rt);
}

TEST_CASE("run: bpf_override hits the armed step's cgroup only, another step's leftover process keeps working") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_in(rt, "run", {source("tests/data/scenarios/vm/bpf-override-step-only.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = nlohmann::json::parse(*read_file(json_path));
  // each exec in its own cgroup v2, named in its environment
  CHECK_THAT(j["steps"][0]["stdout"].get<std::string>(), Catch::Contains("0::/faultbox/step-"));
  // the armed step's one mkdir, and none of the 40 the background loop made meanwhile
  CHECK(j["faults"][0]["fired"] == 1);
  CHECK_THAT(j["steps"][1]["stdout"].get<std::string>(), Catch::Contains("background-still-running"));
  CHECK_THAT(j["steps"][2]["stdout"].get<std::string>(), Catch::Contains("errors=0"));
  CHECK_THAT(j["steps"][2]["stdout"].get<std::string>(), Catch::Contains("step-cgroups-removed"));
  require_no_leftovers(rt);
}

TEST_CASE("run: without cgroup v2 bpf_override falls back to the step's pid") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_in(rt, "run", {source("tests/data/scenarios/vm/bpf-override-no-cgroup2.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = nlohmann::json::parse(*read_file(json_path));
  CHECK(j["faults"][0]["fired"] == 1);
  CHECK_THAT(j["steps"][1]["stderr"].get<std::string>(), Catch::Contains("Cannot allocate memory"));
  CHECK_THAT(j["steps"][2]["stdout"].get<std::string>(), Catch::Contains("[none]"));
  require_no_leftovers(rt);
}

TEST_CASE("bpf_override on a function outside the error-injection list: check and run refuse it in one line, exit 2") {
  ScratchDir rt;
  auto file = source("tests/data/scenarios/vm/bpf-override-not-injectable.toml");
  // The first run may boot once to learn the kernel's list (a kernel faultbox built knows it
  // from vmlinux already); either way it is refused.
  auto first = faultbox_in(rt, "run", {file});
  INFO(first.out << first.err);
  CHECK(first.status.code == 2);
  // Refused by the plan (list known before boot) on stderr, or by the runner after a boot in its report.
  CHECK_THAT(first.out + first.err, Catch::Contains("'vfs_read' is not injectable"));
  require_no_leftovers(rt);

  // Now the list is cached: refused before any boot work.
  auto run = faultbox_in(rt, "run", {file});
  INFO(run.out << run.err);
  CHECK(run.status.code == 2);
  CHECK_THAT(run.err, Catch::Contains("bpf-override-not-injectable.toml:2:1: 'vfs_read' is not injectable"));
  CHECK_THAT(run.err, Catch::Contains("error-injection list (/sys/kernel/debug/error_injection/list"));
  CHECK(run.out.empty());  // refused by the plan: one line on stderr, no report
  CHECK(run.err.find("vm: up") == std::string::npos);
  CHECK(run.err.find("image:") == std::string::npos);
  CHECK(run.seconds < 1.0);

  auto check = faultbox_in(rt, "check", {file});
  INFO(check.out << check.err);
  CHECK(check.status.code == 2);
  CHECK_THAT(check.err, Catch::Contains("'vfs_read' is not injectable"));
  CHECK_THAT(check.err, Catch::Contains("/sys/kernel/debug/error_injection/list"));
  CHECK(std::count(check.err.begin(), check.err.end(), '\n') == 1);  // one line
  CHECK(check.seconds < 1.0);

  // The same list guards fail_function before boot.
  auto ff = faultbox_in(rt, "check", {source("tests/data/scenarios/vm/not-injectable.toml")});
  CHECK(ff.status.code == 2);
  CHECK_THAT(ff.err, Catch::Contains("'vfs_read' is not injectable"));
}

TEST_CASE("kernel injectable: the list read from the booted kernel is the one faultbox caches") {
  ScratchDir rt;
  // Boot once so the list is known even for a kernel built before faultbox read it from vmlinux.
  auto boot = faultbox_exec(rt, {"--", "sh", "-c", "cat /sys/kernel/debug/error_injection/list"});
  REQUIRE(boot.status.code == 0);
  auto listed = faultbox_in(rt, "kernel", {"injectable"});
  INFO(listed.err);
  REQUIRE(listed.status.code == 0);
  std::vector<std::string> from_guest, from_cache;
  std::istringstream g(boot.out), c(listed.out);
  for (std::string line; std::getline(g, line);) from_guest.push_back(line);
  for (std::string line; std::getline(c, line);) from_cache.push_back(line);
  std::sort(from_cache.begin(), from_cache.end());
  std::sort(from_guest.begin(), from_guest.end());
  CHECK(from_guest.size() > 10);
  CHECK(from_cache == from_guest);
}
