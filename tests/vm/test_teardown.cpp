// However faultbox ends, no QEMU process and no runtime dir stay behind.
#include "tests/vm/vm_support.h"

#include <csignal>

using namespace fb;
using namespace fb::test;

static void kill_during_step(int sig, int expected_exit) {
  ScratchDir rt;
  RunOptions o;
  o.act_on_stderr = "faultbox: vm: up";  // the VM is booted and the step is running
  o.act = [sig](pid_t pid) {
    usleep(300000);
    kill(pid, sig);
  };
  auto r = faultbox_exec(rt, {"--", "sleep", "120"}, o);
  INFO(r.err);
  CHECK(r.seconds < 60);
  if (expected_exit >= 0) CHECK(r.status.shell_code() == expected_exit);
  require_no_leftovers(rt);
}

static void kill_during_boot(int sig) {
  ScratchDir rt;
  RunOptions o;
  o.act_on_stderr = "faultbox: accel:";  // QEMU is about to start or starting
  o.act = [sig](pid_t pid) {
    usleep(400000);
    kill(pid, sig);
  };
  auto r = faultbox_exec(rt, {"--", "sleep", "120"}, o);
  INFO(r.err);
  CHECK(r.seconds < 60);
  require_no_leftovers(rt);
}

TEST_CASE("SIGKILL of faultbox mid-step leaves no qemu and no runtime dir") { kill_during_step(SIGKILL, 128 + SIGKILL); }
TEST_CASE("SIGTERM of faultbox mid-step tears down and exits 143") { kill_during_step(SIGTERM, 128 + SIGTERM); }
TEST_CASE("SIGINT of faultbox mid-step tears down and exits 130") { kill_during_step(SIGINT, 128 + SIGINT); }
TEST_CASE("SIGKILL of faultbox mid-boot leaves no qemu and no runtime dir") { kill_during_boot(SIGKILL); }
TEST_CASE("SIGINT of faultbox mid-boot leaves no qemu and no runtime dir") { kill_during_boot(SIGINT); }
