// However faultbox ends, no QEMU process and no runtime dir stay behind.
#include "tests/vm/vm_support.h"

#include <csignal>

using namespace fb;
using namespace fb::test;

// Sends sig to faultbox once `trigger` shows up on its stderr (plus a short delay), then checks
// how it ended and that nothing is left.
static void kill_when(const char* trigger, int delay_us, int sig, int expected_exit) {
  ScratchDir rt;
  RunOptions o;
  o.act_on_stderr = trigger;
  o.act = [sig, delay_us](pid_t pid) {
    usleep(static_cast<useconds_t>(delay_us));
    kill(pid, sig);
  };
  auto r = faultbox_exec(rt, {"--", "sleep", "120"}, o);
  INFO(r.err);
  CHECK(r.seconds < 60);
  if (expected_exit >= 0) CHECK(r.status.shell_code() == expected_exit);
  require_no_leftovers(rt);
}

// "vm: up" is printed once the agent answered: the step is running.
static void kill_during_step(int sig, int expected_exit) { kill_when("faultbox: vm: up", 300000, sig, expected_exit); }
// "accel:" is printed just before QEMU starts; 400 ms later the kernel is booting.
static void kill_during_boot(int sig) { kill_when("faultbox: accel:", 400000, sig, -1); }

TEST_CASE("SIGKILL of faultbox mid-step leaves no qemu and no runtime dir") { kill_during_step(SIGKILL, 128 + SIGKILL); }
TEST_CASE("SIGTERM of faultbox mid-step tears down and exits 143") { kill_during_step(SIGTERM, 128 + SIGTERM); }
TEST_CASE("SIGINT of faultbox mid-step tears down and exits 130") { kill_during_step(SIGINT, 128 + SIGINT); }
TEST_CASE("SIGKILL of faultbox mid-boot leaves no qemu and no runtime dir") { kill_during_boot(SIGKILL); }
TEST_CASE("SIGINT of faultbox mid-boot leaves no qemu and no runtime dir") { kill_during_boot(SIGINT); }
