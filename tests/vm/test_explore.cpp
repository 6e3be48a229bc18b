// `faultbox explore` on the real kernel: discovery, one run per site on warm VMs, a crash that
// replaces the VM mid-exploration, an emitted scenario that reproduces its row, and Ctrl-C.
// Bounded by --sites/--function so the three cases take about two minutes together under TCG.
#include "tests/vm/vm_support.h"

#include <csignal>

using namespace fb;
using namespace fb::test;

namespace {

nlohmann::json read_json(const std::filesystem::path& p) {
  auto text = read_file(p);
  REQUIRE(text.ok());
  return nlohmann::json::parse(*text);
}

// mkdir reaches the mkdir system call by one of these two names, depending on its libc.
const std::vector<std::string> kMkdirSyscalls = {"--function", "__x64_sys_mkdir", "--function", "__x64_sys_mkdirat"};

}  // namespace

TEST_CASE("explore of mkdir: every nth site and the mkdir syscall are run on one warm VM, every cell explained") {
  ScratchDir rt;
  auto out = rt.path() / "report";
  std::vector<std::string> args = {"--out", out.string(), "--sites", "nth,function"};
  args.insert(args.end(), kMkdirSyscalls.begin(), kMkdirSyscalls.end());
  args.insert(args.end(), {"--", "mkdir", "/tmp/x"});
  auto r = faultbox_in(rt, "explore", args);
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = read_json(out / "explore.json");
  CHECK(j["format"] == "faultbox-explore/1");
  CHECK(j["complete"] == true);
  unsigned nth = j["discovery"]["nth_sites"];
  CHECK(nth >= 5);
  bool syscall_found = false;
  for (auto& f : j["discovery"]["functions"])
    if (f["function"] == "__x64_sys_mkdir" || f["function"] == "__x64_sys_mkdirat") {
      syscall_found = true;
      CHECK(f["calls"] == 1);
    }
  CHECK(syscall_found);
  CHECK(j["runs"].size() == nth + 3);  // each nth once, the syscall with -ENOMEM, -EIO, -EINVAL
  int handled = 0;
  for (auto& run : j["runs"]) {
    INFO(run.dump());
    std::string o = run["outcome"];
    CHECK(o != "infra-error");
    CHECK(o != "not-run");
    CHECK(!run["detail"].get<std::string>().empty());
    if (o == "handled") ++handled;
    if (run["site"]["kind"] == "function") {
      // The syscall fails with exactly the injected errno, and mkdir says so.
      CHECK(o == "handled");
      CHECK(run["fired"] == 1);
    }
    if (run["fired"] == 0) CHECK(o == "pass");
  }
  CHECK(handled >= 3);
  CHECK(j["vms"]["booted"] >= 1);
  CHECK(j["vms"]["run_overhead_s_median"] > 0);
  CHECK(std::filesystem::exists(out / "explore.txt"));
  // The page beside the JSON has a cell for every run (tests/browser reads it in Chromium).
  auto page = read_file(out / "report.html");
  REQUIRE(page.ok());
  for (auto& run : j["runs"])
    CHECK_THAT(*page, Catch::Contains(fmt::format("data-run=\"{}\"", run["id"].get<int>())));
  CHECK_THAT(r.out, Catch::Contains("outcomes: "));
  CHECK_THAT(r.err, Catch::Contains("[" + std::to_string(nth + 3) + "/" + std::to_string(nth + 3) + "]"));
  require_no_leftovers(rt);
}

TEST_CASE("explore: a site that crashes the kernel names its site, the VM is replaced, exploration goes on, "
          "the emitted scenario reproduces the crash") {
  ScratchDir rt;
  auto out = rt.path() / "report";
  auto emit = out / "scenarios";
  // The workload panics the kernel (sysrq c) when, and only when, mkdir fails with EINVAL: of the
  // six runs (three errnos, once and always), the two -EINVAL ones crash.
  std::vector<std::string> args = {"--out", out.string(), "--emit-scenarios", emit.string(), "--sites", "function",
                                   "--always"};
  args.insert(args.end(), kMkdirSyscalls.begin(), kMkdirSyscalls.end());
  args.insert(args.end(), {"--", "sh", "-c",
                           "mkdir /tmp/x 2>/tmp/err; s=$?; cat /tmp/err >&2; "
                           "case \"$(cat /tmp/err)\" in *Invalid*) echo c > /proc/sysrq-trigger;; esac; exit $s"});
  auto r = faultbox_in(rt, "explore", args);
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = read_json(out / "explore.json");
  CHECK(j["complete"] == true);
  REQUIRE(j["runs"].size() == 6);
  std::vector<int> crashed;
  for (auto& run : j["runs"]) {
    INFO(run.dump());
    bool einval = run["site"]["retval"] == "-EINVAL";
    CHECK(run["outcome"] == (einval ? "kernel-crash" : "handled"));
    if (!einval) continue;
    crashed.push_back(run["id"]);
    CHECK_THAT(run["title"].get<std::string>(), Catch::Contains("sysrq"));
    CHECK(std::filesystem::exists(out / run["evidence"]["console"].get<std::string>()));
    REQUIRE(run["scenario"].is_string());
  }
  REQUIRE(crashed.size() == 2);
  // Both crashes are one group; the VM was replaced after each (the last run ends the last VM).
  REQUIRE(j["groups"].size() == 1);
  CHECK(j["groups"][0]["runs"] == nlohmann::json(crashed));
  CHECK(j["vms"]["replaced"] >= 1);
  CHECK(j["vms"]["booted"] >= 2);
  CHECK_THAT(r.out, Catch::Contains("kernel-crash (2)"));

  auto scenario = out / j["runs"][crashed.front() - 1]["scenario"].get<std::string>();
  auto check = faultbox_in(rt, "check", {scenario.string()});
  CHECK(check.status.code == 0);
  auto again = faultbox_in(rt, "run", {scenario.string()});
  INFO(again.out << again.err);
  CHECK(again.status.code == 3);  // kernel-crash, as the row says
  CHECK_THAT(again.out, Catch::Contains("sysrq"));
  require_no_leftovers(rt);
}

TEST_CASE("explore: Ctrl-C writes the partial report (complete = false, not-run rows) and leaves no VM") {
  ScratchDir rt;
  auto out = rt.path() / "report";
  RunOptions o;
  o.act_on_stderr = "[2/";  // two runs done: the third is in flight or about to start
  o.act = [](pid_t pid) { kill(pid, SIGINT); };
  auto r = faultbox_in(rt, "explore", {"--out", out.string(), "--sites", "nth", "--", "mkdir", "/tmp/x"}, o);
  INFO(r.out << r.err);
  CHECK(r.status.shell_code() == 128 + SIGINT);
  auto j = read_json(out / "explore.json");
  CHECK(j["complete"] == false);
  CHECK(j["stopped_because"] == "interrupted");
  CHECK(j["counts"]["not-run"] > 0);
  CHECK(j["counts"]["infra-error"] == 0);  // the run cut by the signal is not-run, not a machinery failure
  require_no_leftovers(rt);
}

TEST_CASE("explore --sites block: each request the step sends to its disk fails once, in a VM with fresh disks each") {
  ScratchDir rt;
  auto out = rt.path() / "report";
  auto emit = out / "scenarios";
  auto scenario = source("tests/data/scenarios/vm/explore-block-raw-disk.toml");
  auto t0 = std::chrono::steady_clock::now();
  auto r = faultbox_in(rt, "explore", {"--out", out.string(), "--emit-scenarios", emit.string(), "--scenario", scenario});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = read_json(out / "explore.json");
  CHECK(j["complete"] == true);
  // Discovery: the partial page's read, its write-back at sync, the direct write (at least the
  // two writes, whatever else the step's I/O takes).
  REQUIRE(j["discovery"]["disks"].size() == 1);
  auto& disk = j["discovery"]["disks"][0];
  CHECK(disk["disk"] == "data");
  CHECK(disk["writes"] >= 2);
  int requests = disk["requests"];
  CHECK(requests <= 8);  // a handful: the test stays short
  REQUIRE(j["runs"].size() == static_cast<std::size_t>(requests));
  int fired = 0, handled = 0, silent = 0;
  for (auto& run : j["runs"]) {
    INFO(run.dump());
    CHECK(run["site"]["kind"] == "block");
    CHECK(run["site"]["disk"] == "data");
    std::string o = run["outcome"];
    CHECK((o == "handled" || o == "silent" || o == "pass"));
    if (run["fired"] == 0) CHECK(o == "pass");
    if (run["fired"] == 1) ++fired;
    if (o == "handled") ++handled;
    if (o == "silent") {
      ++silent;
      REQUIRE(run["scenario"].is_string());
    }
  }
  CHECK(fired >= 2);
  // The direct write's EIO reaches dd: handled. The write-back sync(1) starts fails unnoticed.
  CHECK(handled >= 1);
  CHECK(silent >= 1);
  CHECK_THAT(r.out, Catch::Contains("disk data: "));
  auto page = read_file(out / "report.html");
  REQUIRE(page.ok());
  CHECK_THAT(*page, Catch::Contains("data-kind=\"block\""));
  WARN("explore --sites block: " << requests << " sites in "
                                 << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s");

  // A silent row's emitted scenario is the same fault at the same request: `run` sees it fire.
  std::string emitted;
  for (auto& run : j["runs"])
    if (run["outcome"] == "silent" && emitted.empty()) emitted = (out / run["scenario"].get<std::string>()).string();
  REQUIRE(!emitted.empty());
  auto again = faultbox_in(rt, "run", {emitted, "--json", (rt.path() / "again.json").string()});
  INFO(again.out << again.err);
  CHECK(again.status.code == 0);  // the step passes (nobody noticed), and the fault fired as it must
  auto rerun = read_json(rt.path() / "again.json");
  bool found = false;
  for (auto& f : rerun["faults"])
    if (f["name"] == "explore") {
      found = true;
      CHECK(f["fired"] == 1);
    }
  CHECK(found);
  require_no_leftovers(rt);
}
