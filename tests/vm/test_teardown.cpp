// However faultbox ends, no QEMU process and no runtime dir stay behind.
#include "tests/vm/vm_support.h"

#include <csignal>

using namespace fb;
using namespace fb::test;

static const std::string kSleepScenario = std::string(FAULTBOX_SOURCE_DIR) + "/tests/data/scenarios/vm/sleeps.toml";

// Sends sig to faultbox once `trigger` shows up on its stderr (plus a short delay), then checks
// how it ended and that nothing is left.
static void kill_when(const std::string& subcommand, const char* trigger, int delay_us, int sig, int expected_exit) {
  ScratchDir rt;
  RunOptions o;
  o.act_on_stderr = trigger;
  o.act = [sig, delay_us](pid_t pid) {
    usleep(static_cast<useconds_t>(delay_us));
    kill(pid, sig);
  };
  auto r = subcommand == "exec" ? faultbox_exec(rt, {"--", "sleep", "120"}, o) : faultbox_in(rt, "run", {kSleepScenario}, o);
  INFO(r.out << r.err);
  CHECK(r.seconds < 60);
  if (expected_exit >= 0) CHECK(r.status.shell_code() == expected_exit);
  // The user stopped the run: no verdict, no evidence dir, nothing half-written.
  CHECK(!std::filesystem::exists(rt.path() / "state/faultbox/runs"));
  CHECK_THAT(r.out, !Catch::Contains("verdict:"));
  require_no_leftovers(rt);
}

// "vm: up" is printed once the agent answered: the step is running.
static void kill_during_step(const std::string& cmd, int sig, int expected_exit) {
  kill_when(cmd, "faultbox: vm: up", 300000, sig, expected_exit);
}
// "accel:" is printed just before QEMU starts; 400 ms later the kernel is booting.
static void kill_during_boot(const std::string& cmd, int sig) { kill_when(cmd, "faultbox: accel:", 400000, sig, -1); }

TEST_CASE("SIGKILL of faultbox exec mid-step leaves no qemu and no runtime dir") { kill_during_step("exec", SIGKILL, 128 + SIGKILL); }
TEST_CASE("SIGTERM of faultbox exec mid-step tears down and exits 143") { kill_during_step("exec", SIGTERM, 128 + SIGTERM); }
TEST_CASE("SIGINT of faultbox exec mid-step tears down and exits 130") { kill_during_step("exec", SIGINT, 128 + SIGINT); }
TEST_CASE("SIGKILL of faultbox exec mid-boot leaves no qemu and no runtime dir") { kill_during_boot("exec", SIGKILL); }
TEST_CASE("SIGINT of faultbox exec mid-boot leaves no qemu and no runtime dir") { kill_during_boot("exec", SIGINT); }

TEST_CASE("SIGKILL of faultbox run mid-step leaves no qemu, no runtime dir, no disk") { kill_during_step("run", SIGKILL, 128 + SIGKILL); }
TEST_CASE("SIGTERM of faultbox run mid-step tears down and exits 143") { kill_during_step("run", SIGTERM, 128 + SIGTERM); }
TEST_CASE("SIGINT of faultbox run mid-step tears down and exits 130") { kill_during_step("run", SIGINT, 128 + SIGINT); }
TEST_CASE("SIGKILL of faultbox run mid-boot leaves nothing") { kill_during_boot("run", SIGKILL); }
TEST_CASE("SIGTERM of faultbox run mid-boot leaves nothing") { kill_during_boot("run", SIGTERM); }
TEST_CASE("SIGINT of faultbox run mid-boot leaves nothing") { kill_during_boot("run", SIGINT); }

TEST_CASE("QEMU killed under a running step is an infrastructure error (exit 5), not a kernel crash") {
  ScratchDir rt;
  RunOptions o;
  o.act_on_stderr = "faultbox: vm: up";
  std::vector<pid_t> killed;
  o.act = [&](pid_t) {
    usleep(1000000);
    killed = processes_mentioning(rt.path().string());  // the QEMU of this run: its sockets live there
    for (pid_t p : killed) kill(p, SIGKILL);
  };
  auto r = faultbox_in(rt, "run", {kSleepScenario}, o);
  INFO(r.out << r.err);
  CHECK(killed.size() == 1);
  CHECK(r.status.code == 5);
  CHECK_THAT(r.out, Catch::Contains("verdict: infra-error"));
  CHECK_THAT(r.out, Catch::Contains("the VM process died"));
  CHECK_THAT(r.out, Catch::Contains("signal 9"));
  CHECK(!evidence_dir_of(r.out).empty());
  require_no_leftovers(rt);
}
