// `faultbox run`: scenarios end to end, with the kernel's own counters as proof of firing.
#include "common/files.h"
#include "tests/vm/vm_support.h"

#include <nlohmann/json.hpp>

using namespace fb;
using namespace fb::test;

static Run faultbox_run(const ScratchDir& rt, std::vector<std::string> args) {
  return faultbox_in(rt, "run", std::move(args));
}

TEST_CASE("run: failslab on the marked step fires, with stacks, and the sibling step is untouched") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto junit_path = (rt.path() / "report.xml").string();
  auto r = faultbox_run(rt, {source("examples/failslab-one-task.toml"), "--json", json_path, "--junit", junit_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  CHECK_THAT(r.out, Catch::Contains("verdict: pass"));
  auto j = nlohmann::json::parse(*read_file(json_path));
  CHECK(j["verdict"] == "pass");
  REQUIRE(j["faults"].size() == 1);
  CHECK(j["faults"][0]["fired"].get<int>() >= 1);
  REQUIRE(j["faults"][0]["stacks"].size() >= 1);
  CHECK_THAT(j["faults"][0]["stacks"][0].get<std::string>(), Catch::Contains("__x64_sys_mkdir"));
  CHECK_THAT(j["steps"][0]["stderr"].get<std::string>(), Catch::Contains("Cannot allocate memory"));
  CHECK(j["steps"][1]["exit_code"] == 0);
  CHECK_THAT(j["kmsg"].get<std::string>(), Catch::Contains("FAULT_INJECTION: forcing a failure"));
  auto junit = read_file(junit_path);
  REQUIRE(junit.ok());
  CHECK_THAT(*junit, Catch::Contains("<testsuite name=\"failslab fails only the marked task\" tests=\"3\" failures=\"0\""));
  require_no_leftovers(rt);
}

TEST_CASE("run: fail_function on a function outside the injectable list is refused with the reason (exit 2)") {
  ScratchDir rt;
  auto r = faultbox_run(rt, {source("tests/data/scenarios/vm/not-injectable.toml")});
  INFO(r.out << r.err);
  CHECK(r.status.code == 2);
  // Refused by the plan, before anything runs: one line on stderr, as `check` prints it.
  CHECK_THAT(r.err, Catch::Contains("'vfs_read' is not injectable"));
  CHECK_THAT(r.err, Catch::Contains("not-injectable.toml:2:1"));
  CHECK(r.out.empty());
  require_no_leftovers(rt);
}

TEST_CASE("run: a step stuck in D state past its timeout is a hang (exit 4) naming the blocked task, evidence kept") {
  ScratchDir rt;
  auto r = faultbox_run(rt, {source("tests/data/scenarios/vm/step-hangs.toml")});
  INFO(r.out << r.err);
  CHECK(r.status.code == 4);
  CHECK_THAT(r.out, Catch::Contains("verdict: hang"));
  CHECK_THAT(r.out, Catch::Contains("blocked in D state: sh (pid "));
  CHECK_THAT(r.out, Catch::Contains("written by the agent"));
  CHECK(r.seconds < 60);
  auto ev = evidence_dir_of(r.out);
  REQUIRE(!ev.empty());
  CHECK(ev.string().rfind((rt.path() / "state/faultbox/runs/").string(), 0) == 0);
  for (const char* f : {"report.json", "report.txt", "console.log", "kmsg.log", "qemu.log", "agent.log",
                        "scenario.toml", "kernel.config"})
    CHECK(std::filesystem::exists(ev / f));
  auto console = read_file(ev / "console.log");
  REQUIRE(console.ok());
  CHECK_THAT(*console, Catch::Contains("sysrq: Show Blocked State"));
  CHECK_THAT(*console, Catch::Contains("direct_entry+"));  // the blocked task's stack (LKDTM inlines HUNG_TASK)
  CHECK_THAT(*read_file(ev / "kernel.config"), Catch::Contains("CONFIG_FAULT_INJECTION=y"));
  require_no_leftovers(rt);
}

TEST_CASE("run: a guest that stops answering is a hang found by the heartbeat, with sysrq evidence via QMP") {
  ScratchDir rt;
  auto r = faultbox_run(rt, {source("tests/data/scenarios/vm/guest-wedged.toml")});
  INFO(r.out << r.err);
  CHECK_THAT(r.out, Catch::Contains("no agent heartbeat for"));
  require_wedged_guest_hang(r);
  require_no_leftovers(rt);
}

TEST_CASE("run: a kernel BUG in a step is a kernel-crash verdict (exit 3) with its title, seconds after the crash") {
  ScratchDir rt;
  auto r = faultbox_run(rt, {source("tests/data/scenarios/vm/unexpected-crash.toml"), "--follow"});
  INFO(r.out << r.err);
  CHECK(r.status.code == 3);
  CHECK_THAT(r.out, Catch::Contains("kernel BUG in lkdtm_BUG"));
  CHECK_THAT(r.out, Catch::Contains("verdict: kernel-crash"));
  // From the step's last words to the verdict: pvpanic tells the host at once, no timeout runs.
  std::optional<std::chrono::steady_clock::time_point> provoked, verdict;
  for (auto& c : r.chunks) {
    if (c.fd == 1 && !provoked && c.data.find("provoking") != std::string::npos) provoked = c.at;
    if (c.fd == 1 && c.data.find("verdict:") != std::string::npos) verdict = c.at;
  }
  REQUIRE(provoked);
  REQUIRE(verdict);
  CHECK(std::chrono::duration<double>(*verdict - *provoked).count() < 5.0);
  auto ev = evidence_dir_of(r.out);
  REQUIRE(!ev.empty());
  CHECK_THAT(*read_file(ev / "console.log"), Catch::Contains("kernel BUG at"));
  require_no_leftovers(rt);
}

TEST_CASE("run: a crash the scenario expects passes") {
  ScratchDir rt;
  auto r = faultbox_run(rt, {source("tests/data/scenarios/vm/expected-crash.toml")});
  INFO(r.out << r.err);
  CHECK(r.status.code == 0);
  CHECK_THAT(r.out, Catch::Contains("verdict: pass"));
  CHECK(evidence_dir_of(r.out).empty());  // a pass keeps no evidence dir
  CHECK(!std::filesystem::exists(rt.path() / "state/faultbox/runs"));
}

TEST_CASE("run: an expected crash still fails when the kernel log lacks what [expect] asks for") {
  ScratchDir rt;
  auto scenario = rt.path() / "expected-crash-words.toml";
  auto text = read_file(source("tests/data/scenarios/vm/expected-crash.toml"));
  REQUIRE(text);
  REQUIRE(write_file_atomic(scenario, *text + "dmesg_contains = [\"lkdtm_BUG\", \"words no kernel prints\"]\n"));
  auto r = faultbox_run(rt, {scenario.string()});
  INFO(r.out << r.err);
  CHECK(r.status.code == 1);
  CHECK_THAT(r.out, Catch::Contains("expectation failed: kernel log lacks \"words no kernel prints\""));
  CHECK_THAT(r.out, !Catch::Contains("lacks \"lkdtm_BUG\""));  // the crash's own words are found
  CHECK_THAT(r.out, Catch::Contains("verdict: fail"));
}

TEST_CASE("run: an expected crash fails when a step before it failed its expectation, and JUnit agrees") {
  ScratchDir rt;
  auto scenario = rt.path() / "expected-crash-after-failed-step.toml";
  REQUIRE(write_file_atomic(scenario, R"(name = "a step fails, then the expected crash comes"
[[step]]
name = "synced"
run = "false"
expect_exit = 0
[[step]]
name = "provoke"
run = "echo BUG > /sys/kernel/debug/provoke-crash/DIRECT"
[expect]
kernel = "crash"
)"));
  auto junit_path = (rt.path() / "report.xml").string();
  auto r = faultbox_run(rt, {scenario.string(), "--junit", junit_path});
  INFO(r.out << r.err);
  CHECK(r.status.code == 1);
  CHECK_THAT(r.out, Catch::Contains("step synced: exit code 1"));
  CHECK_THAT(r.out, Catch::Contains("    exit 1 (expected 0)"));
  CHECK_THAT(r.out, Catch::Contains("verdict: fail"));
  auto junit = read_file(junit_path);
  REQUIRE(junit.ok());
  // The failed step and the verdict: both failures, none listed under a passing run.
  CHECK_THAT(*junit, Catch::Contains("failures=\"2\""));
  require_no_leftovers(rt);
}

TEST_CASE("run --kernel boots the kernel it names, as exec --kernel does, and refuses one that is not there") {
  ScratchDir rt;
  auto path = faultbox_in(rt, "kernel", {"path"});
  REQUIRE(path.status.code == 0);
  std::string bzimage = path.out.substr(0, path.out.find('\n'));
  // A copy elsewhere: the run must boot this file, not find the cached one by itself.
  auto copy = rt.path() / "bzImage";
  std::filesystem::copy_file(bzimage, copy);
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_run(rt, {source("examples/failslab-one-task.toml"), "--kernel", copy.string(), "--json", json_path});
  INFO(r.out << r.err);
  CHECK(r.status.code == 0);
  auto j = nlohmann::json::parse(*read_file(json_path));
  CHECK(j["verdict"] == "pass");
  CHECK(j["kernel_image"] == std::filesystem::absolute(copy).string());
  auto missing = faultbox_run(rt, {source("examples/failslab-one-task.toml"), "--kernel", "/nonexistent/bzImage"});
  CHECK(missing.status.code == 2);
  CHECK_THAT(missing.err, Catch::Contains("--kernel: kernel /nonexistent/bzImage: no such file"));
  require_no_leftovers(rt);
}

TEST_CASE("run: a marked step whose page faults failslab fails forever is stopped within seconds as a livelock, with the way out") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_run(rt, {source("tests/data/scenarios/vm/failslab-page-fault-livelock.toml"), "--json", json_path});
  INFO(r.out << r.err);
  CHECK(r.status.code == 1);
  CHECK(r.seconds < 60);  // the run's own timeout is 10 minutes
  CHECK_THAT(r.out, Catch::Contains("page-fault livelock"));
  CHECK_THAT(r.out, Catch::Contains("mark_task = false"));
  auto j = nlohmann::json::parse(*read_file(json_path));
  CHECK(j["verdict"] == "fail");
  CHECK(j["steps"][0]["signal"] == 9);
  CHECK(j["faults"][0]["fired"].get<int>() >= 10);
  // The VM is healthy: the next step runs.
  CHECK(j["steps"][1]["stdout"] == "still here\n");
  require_no_leftovers(rt);
}

TEST_CASE("run: a fault that was armed and never fired fails the run, unless it may not fire") {
  ScratchDir rt;
  auto scenario = rt.path() / "never-fires.toml";
  std::string text = R"(name = "failslab armed around a step that allocates nothing it can fail"
[[fault]]
type = "failslab"
[[step]]
name = "quiet"
run = ["true"]
mark_task = false
)";
  REQUIRE(write_file_atomic(scenario, text));
  auto r = faultbox_run(rt, {scenario.string()});
  INFO(r.out << r.err);
  CHECK(r.status.code == 1);
  CHECK_THAT(r.out, Catch::Contains("fault failslab was armed for 1 step(s) and never fired"));
  text.insert(text.find("[[step]]"), "may_not_fire = true\n");
  REQUIRE(write_file_atomic(scenario, text));
  auto allowed = faultbox_run(rt, {scenario.string()});
  INFO(allowed.out << allowed.err);
  CHECK(allowed.status.code == 0);
  CHECK_THAT(allowed.out, Catch::Contains("fault failslab (failslab): fired 0 time(s)"));
  CHECK_THAT(allowed.out, Catch::Contains("never fired, as may_not_fire allows"));
  require_no_leftovers(rt);
}

TEST_CASE("exec: a guest panic ends with exit 3, its title, output before it, and a clean host") {
  ScratchDir rt;
  // The pause lets the agent forward "before": bytes still in a guest pipe when the kernel
  // dies are gone with it (on one busy CPU the panic can win the race by microseconds).
  auto r = faultbox_exec(rt, {"--", "sh", "-c", "echo before; sleep 0.3; echo c > /proc/sysrq-trigger; echo after"});
  INFO(r.err);
  CHECK(r.status.code == 3);
  CHECK(r.out == "before\n");
  CHECK_THAT(r.err, Catch::Contains("kernel crash while running sh: kernel panic: sysrq triggered crash"));
  require_no_leftovers(rt);
  // and the next VM starts normally
  auto again = faultbox_exec(rt, {"--", "true"});
  CHECK(again.status.code == 0);
}

TEST_CASE("run: fail_make_request on a scenario disk fails buffered+fsync and O_DIRECT writes, then stops") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_run(rt, {source("examples/block-errors-reach-user-space.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = nlohmann::json::parse(*read_file(json_path));
  CHECK(j["faults"][0]["fired"].get<int>() >= 2);
  std::string stacks = j["faults"][0]["stacks"].dump();
  CHECK_THAT(stacks, Catch::Contains("__blkdev_direct_IO_simple"));  // the O_DIRECT path
  CHECK_THAT(stacks, Catch::Contains("write_cache_pages"));          // the write-back path
  require_no_leftovers(rt);
}

TEST_CASE("run: fail_function gives each of the seed's four injectable functions' errors to user space (S4)") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_run(rt, {source("examples/fail-function-four-targets.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = nlohmann::json::parse(*read_file(json_path));
  std::map<std::string, int> fired;
  for (auto& f : j["faults"]) fired[f["name"]] = f["fired"];
  CHECK(fired["filemap"] >= 1);
  CHECK(fired["slab"] >= 1);
  CHECK(fired["page"] >= 1);
  CHECK(fired["bio"] >= 1);
  require_no_leftovers(rt);
}

TEST_CASE("run: with [vm] panic_on_warn a kernel WARNING is a kernel-crash verdict with its title") {
  ScratchDir rt;
  auto r = faultbox_run(rt, {source("tests/data/scenarios/vm/warning-panics.toml")});
  INFO(r.out << r.err);
  CHECK(r.status.code == 3);
  CHECK_THAT(r.out, Catch::Contains("WARNING in lkdtm_WARNING"));
  require_no_leftovers(rt);
}

TEST_CASE("run: the failslab target gets ENOMEM while a concurrently running sibling never fails (S3)") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_run(rt, {source("examples/failslab-target-vs-concurrent-sibling.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = nlohmann::json::parse(*read_file(json_path));
  std::map<std::string, nlohmann::json> steps;
  for (auto& s : j["steps"]) steps[s["name"]] = s;
  CHECK_THAT(steps["target"]["stderr"].get<std::string>(), Catch::Contains("Cannot allocate memory"));
  CHECK_THAT(steps["target"]["stdout"].get<std::string>(), Catch::Contains("sibling still running"));
  CHECK(steps["sibling"]["exit_code"] == 0);
  CHECK_THAT(steps["sibling"]["stdout"].get<std::string>(), Catch::Contains(", 0 failed"));
  CHECK(j["faults"][0]["fired"].get<int>() >= 1);
  CHECK_THAT(j["faults"][0]["stacks"].dump(), Catch::Contains("__x64_sys_mkdir"));
  require_no_leftovers(rt);
}

TEST_CASE("run: a fail-nth sweep fails each fault site of a command once, until it completes") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_run(rt, {source("examples/fail-nth-sweep-mkdir.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = nlohmann::json::parse(*read_file(json_path));
  auto& f = j["faults"][0];
  auto& runs = f["nth_runs"];
  REQUIRE(runs.size() >= 6);
  // Consecutive N, every run but the last injected, the last one past every site.
  for (std::size_t i = 0; i < runs.size(); ++i) {
    CHECK(runs[i]["nth"] == i + 1);
    CHECK(runs[i]["injected"] == (i + 1 < runs.size()));
  }
  CHECK(runs.back()["exit_code"] == 0);
  CHECK(f["fired"] == runs.size() - 1);
  // mkdir's own path copy is one of the sites, and failing it is visible to the command.
  bool mkdir_site_failed = false;
  for (auto& n : runs)
    if (n["site"].get<std::string>().find("__x64_sys_mkdir") != std::string::npos && n["exit_code"] != 0)
      mkdir_site_failed = true;
  CHECK(mkdir_site_failed);
  CHECK_THAT(r.out, Catch::Contains("not reached"));
  require_no_leftovers(rt);
}

TEST_CASE("run: a failed copy-back in ppoll fires at put_timespec64 and ppoll still succeeds (S5)") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_run(rt, {source("examples/fail-usercopy-ppoll-lost-timeout.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = nlohmann::json::parse(*read_file(json_path));
  auto& f = j["faults"][0];
  CHECK(f["fired"] == 2);  // one per fail-nth step, none from the probability-0 attribute itself
  CHECK_THAT(f["stacks"].dump(), Catch::Contains("_copy_to_user <- put_timespec64 <- poll_select_finish <- __x64_sys_ppoll"));
  CHECK_THAT(f["stacks"].dump(), Catch::Contains("get_timespec64 <- __x64_sys_ppoll"));
  // Side by side: the step whose copy-back failed still saw ppoll return 0.
  CHECK(j["steps"][0]["exit_code"] == 0);
  CHECK_THAT(j["steps"][0]["stdout"].get<std::string>(), Catch::Contains("remaining time written back: NO"));
  CHECK_THAT(j["steps"][1]["stdout"].get<std::string>(), Catch::Contains("errno EFAULT"));
  require_no_leftovers(rt);
}

TEST_CASE("run: failing swap writes under memcg and global pressure show reclaim stacks and before/after figures (S7)") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_run(rt, {source("examples/swap-write-errors-under-memcg-pressure.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = nlohmann::json::parse(*read_file(json_path));
  auto& f = j["faults"][0];
  CHECK(f["fired"] == 120);  // times = 60, armed for two steps
  std::string stacks = f["stacks"].dump();
  CHECK_THAT(stacks, Catch::Contains("__swap_writepage"));
  CHECK_THAT(stacks, Catch::Contains("try_to_free_mem_cgroup_pages"));  // the workload's memcg reclaim
  bool global = stacks.find("kswapd") != std::string::npos || stacks.find("try_to_free_pages") != std::string::npos;
  CHECK(global);  // kswapd or a task's global direct reclaim under the sibling's pressure
  // Figures before and after: the workload cgroup's charge and swap grew under its limit.
  std::map<std::string, nlohmann::json> snaps;
  for (auto& s : j["steps"][1]["snapshots"]) snaps[s["path"]] = s;
  REQUIRE(snaps.count("/sys/fs/cgroup/work/memory.swap.current"));
  CHECK(snaps["/sys/fs/cgroup/work/memory.swap.current"]["before"] == "0\n");
  CHECK(std::stoll(snaps["/sys/fs/cgroup/work/memory.swap.current"]["after"].get<std::string>()) > 0);
  CHECK(std::stoll(snaps["/sys/fs/cgroup/work/memory.current"]["after"].get<std::string>()) <= 16 << 20);
  CHECK_THAT(snaps["/proc/meminfo"]["after"].get<std::string>(), Catch::Contains("SwapFree:"));
  CHECK_THAT(r.out, Catch::Contains("snapshot /proc/swaps:"));
  require_no_leftovers(rt);
}

TEST_CASE("run: tracefs events stream live with --follow and land in the report") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_run(rt, {source("tests/data/scenarios/vm/trace-events.toml"), "--follow", "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  CHECK_THAT(r.err, Catch::Contains("faultbox: trace: "));
  auto j = nlohmann::json::parse(*read_file(json_path));
  std::string trace = j["trace"];
  CHECK_THAT(trace, Catch::Contains("block_rq_complete: 254,0 WS () 0 + 8 [0]"));  // the direct 4 KiB writes
  // Live: the first trace line of the direct writes is printed before the step's "done".
  std::optional<std::chrono::steady_clock::time_point> traced, done;
  for (auto& c : r.chunks) {
    if (c.fd == 2 && !traced && c.data.find("WS () 0 + 8") != std::string::npos) traced = c.at;
    if (c.fd == 1 && !done && c.data.find("done") != std::string::npos) done = c.at;
  }
  REQUIRE(traced);
  REQUIRE(done);
  CHECK(*traced <= *done);
  CHECK_THAT(r.out, Catch::Contains("trace events: "));
  require_no_leftovers(rt);
}

TEST_CASE("run: a tracefs event the kernel lacks is a usage error naming it") {
  ScratchDir rt;
  auto r = faultbox_run(rt, {source("tests/data/scenarios/vm/trace-event-missing.toml")});
  INFO(r.out << r.err);
  CHECK(r.status.code == 2);
  CHECK_THAT(r.out, Catch::Contains("trace-event-missing.toml: trace_events: tracefs event block:no_such_event cannot be enabled"));
  require_no_leftovers(rt);
}

TEST_CASE("run: a step the memory cgroup OOM killer killed is reported as OOM-killed, with its victim") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_run(rt, {source("tests/data/scenarios/vm/oom-killed-step.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = nlohmann::json::parse(*read_file(json_path));
  auto& hog = j["steps"][1];
  CHECK(hog["signal"] == 9);
  REQUIRE(hog.contains("oom_killed"));
  CHECK(hog["oom_killed"]["reason"] == "memory cgroup");
  CHECK(hog["oom_killed"]["memcg"] == "/small");
  CHECK(hog["oom_killed"]["comm"] == "sh");
  CHECK(hog["oom_killed"]["pid"].get<long>() > 1);
  CHECK_FALSE(j["steps"][0].contains("oom_killed"));
  CHECK_THAT(r.out, Catch::Contains("step hog: killed by signal 9"));
  CHECK_THAT(r.out, Catch::Contains("    killed by the OOM killer (memory cgroup out of memory in /small): pid "));
}

TEST_CASE("run: a step's escape sequences reach the terminal and report.txt escaped, the JSON raw") {
  ScratchDir rt;
  std::string json_path = (rt.path() / "r.json").string();
  auto r = faultbox_run(rt, {source("tests/data/scenarios/vm/hostile-output.toml"), "--json", json_path, "--follow"});
  INFO(r.out << r.err);
  CHECK(r.status.code == 1);  // its expect_stdout is never met
  CHECK(r.out.find('\x1b') == std::string::npos);
  CHECK(r.err.find('\x1b') == std::string::npos);  // --follow shows the output live, escaped too
  CHECK(r.out.find('\x07') == std::string::npos);
  CHECK_THAT(r.out, Catch::Contains("stdout: out \\x1b]0;pwned\\x07\\x1b[2J end"));
  CHECK_THAT(r.out, Catch::Contains("stderr: err \\x1b[31mred"));
  auto j = nlohmann::json::parse(*read_file(json_path));
  CHECK(j["steps"][0]["stdout"] == "out \x1b]0;pwned\x07\x1b[2J end\n");
  CHECK(j["steps"][0]["stderr"] == "err \x1b[31mred\n");
  auto ev = evidence_dir_of(r.out);
  REQUIRE(!ev.empty());
  auto report = read_file(ev / "report.txt");
  REQUIRE(report.ok());
  CHECK(report->find('\x1b') == std::string::npos);
  CHECK_THAT(*report, Catch::Contains("\\x1b]0;pwned\\x07"));
}

TEST_CASE("run: a panic line the workload wrote to /dev/kmsg does not title the real crash after it") {
  ScratchDir rt;
  std::string json_path = (rt.path() / "r.json").string();
  auto r = faultbox_run(rt, {source("tests/data/scenarios/vm/fake-panic-then-bug.toml"), "--json", json_path});
  INFO(r.out << r.err);
  CHECK(r.status.code == 3);
  auto j = nlohmann::json::parse(*read_file(json_path));
  REQUIRE(j["crash"].is_object());
  CHECK(j["crash"]["title"] == "kernel BUG in lkdtm_BUG");
  CHECK(j["crash"]["report"].get<std::string>().find("forged") == std::string::npos);
  CHECK_THAT(r.out, Catch::Contains("kernel BUG in lkdtm_BUG"));
  // The forged line is on the console all the same, marked as LOG_USER's (facility 1, level 4).
  auto ev = evidence_dir_of(r.out);
  REQUIRE(!ev.empty());
  auto console = read_file(ev / "console.log");
  REQUIRE(console.ok());
  auto forged = console->find("] Kernel panic - not syncing: forged by the workload");
  REQUIRE(forged != std::string::npos);
  CHECK(console->substr(console->rfind('\n', forged) + 1, 5) == "<12>[");
  CHECK_THAT(*console, Catch::Contains("kernel BUG at"));
}
