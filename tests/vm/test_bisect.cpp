// faultbox bisect over the synthetic history of tests/support/make-bisect-fixture.sh: the
// linux-source-6.1 tree, then ten commits with one culprit (getname_flags() loses its NULL
// check), one that does not build and one that adds an unrelated crash (then reverted). The
// step kernels are cached by commit, so the cases share builds: only the first run of the
// first case compiles (docs/benchmarks.md has the times).
#include "tests/support/bisect_fixture.h"
#include "tests/vm/vm_support.h"

#include <csignal>
#include <thread>

using namespace fb;
using namespace fb::test;
namespace fs = std::filesystem;

namespace {

// What must not change in the user's tree: HEAD, the index, the status.
struct TreeState {
  std::string head, status, index_sha;
  static TreeState of(const fs::path& repo) {
    // status first: it refreshes the index's stat data (the first time after the fixture was
    // made it rewrites the file), which is git's doing, not the bisect's.
    auto status = git_in(repo, {"status", "--porcelain"});
    auto index = read_file(repo / ".git/index");
    return {git_in(repo, {"rev-parse", "HEAD"}), status, index ? sha256_of(*index) : std::string("none")};
  }
  bool operator==(const TreeState&) const = default;
};

struct Bisect {
  Run run;
  nlohmann::json json;
};

Bisect bisect(const ScratchDir& rt, std::vector<std::string> args, RunOptions opts = {}) {
  auto json_path = (rt.path() / "bisect.json").string();
  std::error_code ec;
  fs::remove(json_path, ec);
  args.insert(args.end(), {"--json", json_path});
  if (opts.timeout == std::chrono::seconds(600)) opts.timeout = std::chrono::seconds(2400);
  Bisect b{faultbox_in(rt, "bisect", args, opts), {}};
  if (auto text = read_file(json_path); text.ok()) b.json = nlohmann::json::parse(*text);
  return b;
}

const nlohmann::json* step_of(const nlohmann::json& report, const std::string& commit) {
  for (auto& s : report["steps"])
    if (s["commit"] == commit) return &s;
  return nullptr;
}

}  // namespace

TEST_CASE("bisect names the culprit and skips the commit that does not build and the unrelated crash") {
  const auto& repo = bisect_fixture_repo();
  auto before = TreeState::of(repo);
  ScratchDir rt;
  auto b = bisect(rt, {"--tree", repo.string(), "--good", "fixture-good", "--bad", "fixture-culprit", "--fresh",
                       source("tests/data/bisect/getname-failslab.toml")});
  INFO(b.run.out << b.run.err);
  REQUIRE(b.run.status.code == 0);
  REQUIRE(b.json.is_object());
  auto culprit = git_in(repo, {"rev-parse", "fixture-culprit"});
  CHECK(b.json["first_bad"]["commit"] == culprit);
  CHECK(b.json["first_bad"]["subject"] == "namei: names_cache allocations cannot fail");
  CHECK(b.json["first_bad"]["author"] == "Culprit Author <fixture@faultbox.invalid>");
  CHECK_THAT(b.json["first_bad"]["why"].get<std::string>(), Catch::StartsWith("crash: BUG: kernel NULL pointer dereference"));
  CHECK_THAT(b.run.out, Catch::Contains("first bad commit: " + culprit));
  // The commit that does not compile was tried and skipped.
  auto broken = step_of(b.json, git_in(repo, {"rev-parse", "fixture-broken"}));
  REQUIRE(broken);
  CHECK((*broken)["verdict"] == "skip");
  CHECK_THAT((*broken)["why"].get<std::string>(), Catch::StartsWith("does not build"));
  // The unrelated crash (another title) was skipped, not counted as bad.
  auto unrelated = step_of(b.json, git_in(repo, {"rev-parse", "fixture-unrelated"}));
  REQUIRE(unrelated);
  CHECK((*unrelated)["verdict"] == "skip");
  CHECK_THAT((*unrelated)["why"].get<std::string>(), Catch::StartsWith("unrelated crash: "));
  CHECK_THAT(b.run.err, Catch::Contains("step 1/~"));
  CHECK(TreeState::of(repo) == before);
}

TEST_CASE("bisect with a probability-50 fault and --repeat 5 still names the culprit") {
  const auto& repo = bisect_fixture_repo();
  ScratchDir rt;
  auto b = bisect(rt, {"--tree", repo.string(), "--good", "fixture-broken~1", "--bad", "fixture-culprit", "--repeat", "5",
                       "--fresh", source("tests/data/bisect/getname-failslab-p50.toml")});
  INFO(b.run.out << b.run.err);
  REQUIRE(b.run.status.code == 0);
  CHECK(b.json["first_bad"]["commit"] == git_in(repo, {"rev-parse", "fixture-culprit"}));
  double rate = b.json["bad_rate"].get<double>();
  CHECK(rate > 0);
  // Every good step ran 5 times and says how likely a bad commit was to pass them: (1-p)^5.
  int good_steps = 0;
  for (auto& s : b.json["steps"])
    if (s["role"] == "step" && s["verdict"] == "good") {
      ++good_steps;
      CHECK(s["runs"] == 5);
      CHECK(s["chance_bad_called_good"].get<double>() == Approx(std::pow(1 - rate, 5)));
    }
  CHECK(good_steps >= 1);
  CHECK_THAT(b.run.err, Catch::Contains("runs bad]"));
}

TEST_CASE("an interrupted bisect continues from its log without deciding finished steps again") {
  const auto& repo = bisect_fixture_repo();
  ScratchDir rt;
  std::vector<std::string> args = {"--tree", repo.string(), "--good", "fixture-good", "--bad", "fixture-culprit",
                                   "--bad-on", "crash", source("tests/data/bisect/getname-failslab.toml")};
  auto fresh = args;
  fresh.insert(fresh.begin(), "--fresh");
  RunOptions o;
  o.act_on_stderr = "step 2/~";  // the checks and step 1 are in the log; step 2 is building or booting
  o.act = [](pid_t pid) {
    usleep(1500000);
    kill(pid, SIGINT);
  };
  auto first = bisect(rt, fresh, o);
  INFO(first.run.out << first.run.err);
  CHECK(first.run.status.shell_code() == 128 + SIGINT);
  CHECK_THAT(first.run.err, Catch::Contains("interrupted"));
  CHECK(processes_mentioning("qemu-system").empty());
  for (auto& name : cache_entries("kernels")) CHECK_THAT(name, !Catch::EndsWith(".partial"));
  auto second = bisect(rt, args);
  INFO(second.run.out << second.run.err);
  REQUIRE(second.run.status.code == 0);
  CHECK(second.json["first_bad"]["commit"] == git_in(repo, {"rev-parse", "fixture-culprit"}));
  CHECK_THAT(second.run.err, Catch::Contains("resuming: 3 commit(s) already decided"));
  CHECK(second.json["steps_from_log"] == 3);
  // Only the undecided steps booted again: one run each (the broken commit boots nothing).
  int booted = 0;
  for (auto& s : second.json["steps"]) booted += s["runs"].get<int>();
  int logged_runs = 0;
  std::size_t n = 0;
  for (auto& s : second.json["steps"])
    if (n++ < 3) logged_runs += s["runs"].get<int>();
  CHECK(second.json["boots"] == booted - logged_runs);
}

TEST_CASE("bisect refuses bad input with one line and exit 2 and leaves the user's tree untouched") {
  const auto& repo = bisect_fixture_repo();
  auto before = TreeState::of(repo);
  ScratchDir rt;
  auto scenario = source("tests/data/bisect/getname-failslab.toml");
  auto one_line = [](const Run& r) {
    INFO(r.out << r.err);
    CHECK(r.status.code == 2);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  };
  auto not_git = faultbox_in(rt, "bisect", {"--tree", rt.path().string(), "--good", "a", "--bad", "b", scenario});
  one_line(not_git);
  CHECK_THAT(not_git.err, Catch::Contains("not a git work tree"));
  auto reversed = faultbox_in(rt, "bisect", {"--tree", repo.string(), "--good", "fixture-bad", "--bad", "fixture-good", scenario});
  one_line(reversed);
  CHECK_THAT(reversed.err, Catch::Contains("--good fixture-bad is not an ancestor of --bad fixture-good"));
  auto unknown = faultbox_in(rt, "bisect", {"--tree", repo.string(), "--good", "no-such-rev", "--bad", "fixture-bad", scenario});
  one_line(unknown);
  CHECK_THAT(unknown.err, Catch::Contains("--good no-such-rev: no such commit"));
  auto broken_scenario = rt.path() / "broken.toml";
  REQUIRE(write_file_atomic(broken_scenario, "name = \"x\"\n[[step]]\nrun = \n").ok());
  auto bad_scenario = faultbox_in(rt, "bisect", {"--tree", repo.string(), "--good", "fixture-good", "--bad", "fixture-bad",
                                                 broken_scenario.string()});
  one_line(bad_scenario);
  CHECK_THAT(bad_scenario.err, Catch::Contains("broken.toml:3"));
  CHECK(TreeState::of(repo) == before);
}
