// `faultbox run SCENARIO... --jobs N --repeat K` as a user runs it, on the fake backend
// (FAULTBOX_BACKEND=fake: each worker's agent is a host process, its steps host commands), and
// two faultbox processes making the same cache entry at once.
#include "common/files.h"
#include "orchestrator/core/image_builder.h"
#include "tests/support/support.h"
#include "tests/vm/vm_support.h"  // require_no_leftovers: nothing in it needs a VM

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <regex>
#include <thread>
#include <unistd.h>

using namespace fb;
using namespace fb::test;
namespace fs = std::filesystem;

namespace {

// The built faultbox (the agent is in libexec/faultbox/, not beside it).
std::string faultbox() { return FAULTBOX_CLI_BIN; }

// A private runtime dir, state dir (evidence) and cache, the fake backend, the real faultbox.
Run faultbox_batch(const ScratchDir& rt, std::vector<std::string> args, RunOptions opts = {}) {
  std::vector<std::string> argv = {faultbox(), "run"};
  argv.insert(argv.end(), args.begin(), args.end());
  opts.env["XDG_RUNTIME_DIR"] = rt.path().string();
  opts.env["XDG_STATE_HOME"] = (rt.path() / "state").string();
  opts.env["FAULTBOX_CACHE_DIR"] = (rt.path() / "cache").string();
  opts.env["FAULTBOX_BACKEND"] = "fake";
  opts.env["FAULTBOX_AGENT"] = agent_binary();
  opts.timeout = std::chrono::seconds(120);
  return run(argv, opts);
}

fs::path write_scenario(const ScratchDir& rt, const std::string& stem, const std::string& text) {
  fs::path p = rt.path() / (stem + ".toml");
  REQUIRE(write_file_atomic(p, text));
  return p;
}

fs::path passing_scenario(const ScratchDir& rt) {
  return write_scenario(rt, "ok", "name = \"ok\"\n[[step]]\nname = \"s\"\nrun = [\"true\"]\n");
}

std::size_t files_in(const fs::path& dir) {
  std::error_code ec;
  std::size_t n = 0;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); ++it) ++n;
  return n;
}

}  // namespace

TEST_CASE("run --jobs 2 --repeat 2: runs at once, a progress line each, a summary, merged reports, worst exit") {
  ScratchDir rt;
  fs::path meet = rt.path() / "meet";
  fs::create_directories(meet);
  // Each run leaves a file and waits (up to 10 s) until two are there: the first two runs pass
  // only if they ran at the same time.
  auto meets = write_scenario(rt, "meet", fmt::format(R"(name = "two runs meet"
[[step]]
name = "meet"
run = "touch {0}/$$; n=0; while [ $(ls {0} | wc -l) -lt 2 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done; [ $(ls {0} | wc -l) -ge 2 ]"
expect_exit = 0
)",
                                                      meet.string()));
  auto fails = write_scenario(rt, "fails", R"(name = "fails"
[[step]]
name = "wrong"
run = ["false"]
expect_exit = 0
)");
  auto json_path = rt.path() / "merged.json", junit_path = rt.path() / "merged.xml";
  auto r = faultbox_batch(rt, {meets.string(), fails.string(), "--jobs", "2", "--repeat", "2", "--json",
                               json_path.string(), "--junit", junit_path.string()});
  INFO(r.out << r.err);
  CHECK(r.status.code == 1);  // the worst of pass, pass, fail, fail

  std::regex line(R"(^\[(\d)/4\] (meet|fails) #([12]) (pass|fail) \d+\.\ds$)");
  int progress = 0, passes = 0;
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (!std::regex_match(l, m, line)) continue;
    CHECK(m[1] == std::to_string(++progress));
    CHECK((m[2] == "meet") == (m[4] == "pass"));
    passes += m[4] == "pass";
  }
  CHECK(progress == 4);
  CHECK(passes == 2);
  CHECK_THAT(r.out, Catch::Contains("meet         2      2      0"));
  CHECK_THAT(r.out, Catch::Contains("fails        2      0      2"));
  CHECK_THAT(r.out, Catch::Contains("verdict: fail (4 runs, --jobs 2,"));
  CHECK(r.err.find("jobs:") == std::string::npos);  // --jobs given: no default to explain

  auto text = read_file(json_path);
  REQUIRE(text.ok());
  auto j = nlohmann::json::parse(*text);
  CHECK(j["verdict"] == "fail");
  CHECK(j["exit_code"] == 1);
  REQUIRE(j["runs"].size() == 4);
  for (auto& run : j["runs"]) {
    CHECK(run["report"]["verdict"] == run["verdict"]);
    if (run["verdict"] == "fail") {
      // Evidence of each failing run, with what its worker said.
      fs::path ev = run["evidence"].get<std::string>();
      CHECK(fs::exists(ev / "report.json"));
      CHECK(fs::exists(ev / "faultbox.log"));
      CHECK_THAT(r.out, Catch::Contains("evidence: " + ev.string()));
    } else {
      CHECK(run["evidence"].is_null());
    }
  }
  CHECK(files_in(rt.path() / "state/faultbox/runs") == 2);
  auto junit = read_file(junit_path);
  REQUIRE(junit.ok());
  CHECK_THAT(*junit, Catch::Contains("<testsuites name=\"faultbox run\" tests=\"8\" failures=\"4\""));
  for (auto* suite : {"meet #1", "meet #2", "fails #1", "fails #2"})
    CHECK_THAT(*junit, Catch::Contains(std::string("<testsuite name=\"") + suite + "\""));
  require_no_leftovers(rt);
}

TEST_CASE("run with several scenarios and no --jobs says the default in one line") {
  ScratchDir rt;
  auto ok = passing_scenario(rt);
  auto r = faultbox_batch(rt, {ok.string(), ok.string()});
  INFO(r.out << r.err);
  CHECK(r.status.code == 0);
  std::regex jobs_line(R"(faultbox: jobs: \d+ at once \(limited by (cores|memory|runs): [^\n]*\)\n)");
  CHECK(std::regex_search(r.err, jobs_line));
  CHECK_THAT(r.out, Catch::Contains("verdict: pass (2 runs,"));
}

TEST_CASE("run --follow with --jobs is refused in one line, before anything runs") {
  ScratchDir rt;
  auto ok = passing_scenario(rt);
  auto r = faultbox_batch(rt, {ok.string(), "--jobs", "2", "--follow"});
  CHECK(r.status.code == 2);
  CHECK(r.err == "faultbox: --follow shows one run live: not with several scenarios, --jobs or --repeat\n");
  CHECK(r.out.empty());
}

TEST_CASE("a scenario the plan refuses stops the whole batch before any run, with its file:line") {
  ScratchDir rt;
  auto ok = passing_scenario(rt);
  auto bad = write_scenario(rt, "bad", "name = \"bad\"\n[[step]]\nname = \"s\"\nrun = [\"true\"]\nexpect_exit = \"zero\"\n");
  auto r = faultbox_batch(rt, {ok.string(), bad.string(), "--repeat", "3"});
  INFO(r.out << r.err);
  CHECK(r.status.code == 2);
  CHECK_THAT(r.err, Catch::Contains(bad.string() + ":5:"));
  CHECK(r.out.empty());
  require_no_leftovers(rt);
}

TEST_CASE("SIGINT to a `run --jobs 2` process stops every worker at once and leaves nothing") {
  ScratchDir rt;
  fs::path started = rt.path() / "started";
  fs::create_directories(started);
  auto slow = write_scenario(rt, "slow", fmt::format(R"(name = "slow"
[[step]]
name = "waits"
run = "touch {}/$$; exec sleep 20"
)",
                                                     started.string()));
  auto json_path = rt.path() / "merged.json";
  RunOptions o;
  // Only once both workers' steps run; the signal goes to faultbox alone (not a terminal's whole
  // group), so the workers learn of it from faultbox.
  o.act_after = std::chrono::milliseconds(0);
  o.act = [&](pid_t pid) {
    for (int i = 0; i < 200 && files_in(started) < 2; ++i) usleep(50000);
    kill(pid, SIGINT);
  };
  auto r = faultbox_batch(rt, {slow.string(), "--jobs", "2", "--repeat", "4", "--json", json_path.string()}, o);
  INFO(r.out << r.err);
  CHECK(files_in(started) == 2);  // two ran, the other six never started
  CHECK(r.status.shell_code() == 130);
  CHECK(r.seconds < 15);
  // The user stopped it: no verdict, no progress line, no merged report, no evidence dir.
  CHECK(r.out.empty());
  CHECK_FALSE(fs::exists(json_path));
  CHECK_FALSE(fs::exists(rt.path() / "state/faultbox/runs"));
  require_no_leftovers(rt);
  // The steps' sleeps are the fake backend's "guest": host processes the killed agent leaves
  // behind, where a VM's would die with it. Not faultbox's to reap; the test's to clean.
  for (auto& e : fs::directory_iterator(started)) kill(std::stoi(e.path().filename().string()), SIGKILL);
}

TEST_CASE("two faultbox processes building the same image at once: one builds it, the other reuses it") {
  ScratchDir rt;
  auto build = [&](Run& out) {
    RunOptions o;
    o.env["FAULTBOX_CACHE_DIR"] = (rt.path() / "cache").string();
    o.env["FAULTBOX_AGENT"] = agent_binary();
    out = run({faultbox(), "image", "build"}, o);
  };
  Run a, b;
  std::thread ta(build, std::ref(a)), tb(build, std::ref(b));
  ta.join();
  tb.join();
  INFO(a.err << b.err);
  CHECK(a.status.code == 0);
  CHECK(b.status.code == 0);
  CHECK(a.out == b.out);
  auto built = [](const Run& r) { return r.err.find("image: built") != std::string::npos; };
  CHECK(built(a) + built(b) == 1);
  // The published image is whole, and no temporary file of the build is left beside it.
  fs::path cpio = a.out.substr(0, a.out.find('\n'));
  CHECK(check_boot_image(cpio).ok());
  for (auto& e : fs::directory_iterator(cpio.parent_path()))
    CHECK_THAT(e.path().filename().string(), Catch::Equals("initramfs.cpio") || Catch::Equals("meta.json"));
}

TEST_CASE("a worker killed under its run counts as infra-error with the reason, the batch goes on, nothing left") {
  ScratchDir rt;
  fs::path started = rt.path() / "started";
  fs::create_directories(started);
  auto slow = write_scenario(rt, "slow", fmt::format("name = \"slow\"\n[[step]]\nname = \"waits\"\nrun = \"touch {}/$$; exec sleep 20\"\n",
                                                     started.string()));
  auto ok = passing_scenario(rt);
  RunOptions o;
  o.act_after = std::chrono::milliseconds(0);
  int killed = 0;
  o.act = [&](pid_t batch) {
    for (int i = 0; i < 200 && files_in(started) < 1; ++i) usleep(50000);
    // The first run's worker: a child of faultbox (its janitors share its command line).
    for (pid_t p : processes_mentioning("run-0.json")) {
      auto stat = read_file("/proc/" + std::to_string(p) + "/stat");
      if (!stat) continue;
      pid_t ppid = std::stoi(stat->substr(stat->rfind(')') + 4));
      if (ppid == batch && kill(p, SIGKILL) == 0) ++killed;
    }
  };
  auto r = faultbox_batch(rt, {slow.string(), ok.string(), "--jobs", "1"}, o);
  INFO(r.out << r.err);
  CHECK(killed == 1);
  CHECK(r.status.code == 5);
  CHECK_THAT(r.out, Catch::Contains("[1/2] slow #1 infra-error"));
  CHECK_THAT(r.out, Catch::Contains("the run wrote no report (killed by signal 9"));
  CHECK_THAT(r.out, Catch::Contains("[2/2] ok #1 pass"));
  CHECK_THAT(r.out, Catch::Contains("verdict: infra-error (2 runs, --jobs 1,"));
  require_no_leftovers(rt);
  for (auto& e : fs::directory_iterator(started)) kill(std::stoi(e.path().filename().string()), SIGKILL);
}
