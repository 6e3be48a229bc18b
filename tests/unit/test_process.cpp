#include "common/process.h"
#include "common/temp_dir.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace fb;
namespace fs = std::filesystem;

TEST_CASE("a child's exit code and signal are reported") {
  auto a = run_capture({"sh", "-c", "echo hi; exit 3"});
  REQUIRE(a.ok());
  CHECK(a->output == "hi\n");
  CHECK(a->status.code == 3);
  auto b = run_capture({"sh", "-c", "kill -9 $$"});
  REQUIRE(b.ok());
  CHECK(b->status.signal == SIGKILL);
  CHECK(b->status.shell_code() == 137);
}

TEST_CASE("spawning a missing program is an error, not a child") {
  auto c = ChildProcess::spawn({"/nonexistent/program"});
  REQUIRE_FALSE(c.ok());
  CHECK_THAT(c.error().message, Catch::Contains("No such file"));
}

TEST_CASE("destroying a ChildProcess kills and reaps it") {
  pid_t pid;
  {
    auto c = ChildProcess::spawn({"sleep", "100"});
    REQUIRE(c.ok());
    pid = c->pid();
    CHECK(kill(pid, 0) == 0);
  }
  CHECK(kill(pid, 0) == -1);  // reaped: not even a zombie
}

TEST_CASE("a TempDir is removed with its contents at destruction") {
  fs::path p;
  {
    auto d = TempDir::create("/tmp", "fbtest-", false);
    REQUIRE(d.ok());
    p = d->path();
    std::filesystem::create_directories(p / "a/b");
    CHECK(fs::exists(p / "a/b"));
  }
  CHECK_FALSE(fs::exists(p));
}

TEST_CASE("the janitor removes a TempDir when its owner is SIGKILLed") {
  int pp[2];
  REQUIRE(pipe(pp) == 0);
  pid_t owner = fork();
  if (owner == 0) {
    close(pp[0]);
    auto d = TempDir::create("/tmp", "fbjanitor-", true);
    std::string path = d ? d->path().string() : "";
    path.push_back('\n');
    (void)!write(pp[1], path.data(), path.size());
    pause();
    _exit(0);
  }
  close(pp[1]);
  char buf[256] = {};
  REQUIRE(read(pp[0], buf, sizeof buf - 1) > 0);
  close(pp[0]);
  std::string path(buf);
  path.pop_back();
  REQUIRE(fs::exists(path));
  kill(owner, SIGKILL);
  int st;
  waitpid(owner, &st, 0);
  for (int i = 0; i < 100 && fs::exists(path); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("find_in_path finds sh and misses a made-up name") {
  CHECK_FALSE(find_in_path("sh").empty());
  CHECK(find_in_path("faultbox-no-such-tool").empty());
}
