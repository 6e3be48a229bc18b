#include "guest-agent/probe.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <string>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace fb::agent {

namespace {

int usage() {
  fprintf(stderr,
          "usage: faultbox-probe ppoll [--timeout-ms N] [--fail-nth N]\n"
          "  ppoll: waits on an empty pipe until the timeout and reports the return value, errno and\n"
          "  whether the kernel wrote the remaining time back; --fail-nth sets /proc/thread-self/fail-nth\n"
          "  right before the call, so the Nth fault site inside ppoll fails.\n"
          "       faultbox-probe futex-wait [--timeout-ms N] [--private]\n"
          "  futex-wait: FUTEX_WAIT with a relative timeout on a word that holds the expected value, so\n"
          "  it can only time out (ETIMEDOUT); reports the return value, errno and how long it waited.\n"
          "  --private adds FUTEX_PRIVATE_FLAG (fail_futex's ignore-private skips such calls).\n");
  return 2;
}

bool set_fail_nth(long n) {
  int fd = open("/proc/thread-self/fail-nth", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string v = std::to_string(n);
  bool ok = write(fd, v.data(), v.size()) == static_cast<ssize_t>(v.size());
  close(fd);
  return ok;
}

// ppoll(2) on the read end of a pipe nobody writes to, so it can only time out. The raw syscall
// is used so the timespec the kernel writes back is ours, not a libc copy.
int probe_ppoll(long timeout_ms, long fail_nth) {
  int p[2];
  if (pipe(p) != 0) {
    perror("pipe");
    return 1;
  }
  pollfd pfd{p[0], POLLIN, 0};
  timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000};
  const timespec asked = ts;
  if (fail_nth > 0 && !set_fail_nth(fail_nth)) {
    perror("/proc/thread-self/fail-nth");
    return 1;
  }
  long ret = syscall(SYS_ppoll, &pfd, 1, &ts, nullptr, 0);
  int err = errno;
  // Whether the Nth site was reached is not read back here: that read would itself be a fault
  // site. The kernel's log (the stack of the failed copy) and the fault's counter say it.
  // Clearing the count may consume it (the write copies from user first): harmless.
  if (fail_nth > 0) set_fail_nth(0);
  bool written_back = ts.tv_sec != asked.tv_sec || ts.tv_nsec != asked.tv_nsec;
  printf("ppoll: returned %ld%s%s\n", ret, ret < 0 ? ", errno " : "", ret < 0 ? strerrorname_np(err) : "");
  printf("remaining time written back: %s (timespec now %ld.%09ld s, asked %ld.%09ld s)\n",
         written_back ? "yes" : "NO", static_cast<long>(ts.tv_sec), ts.tv_nsec, static_cast<long>(asked.tv_sec),
         asked.tv_nsec);
  if (ret == 0 && !written_back)
    printf("ppoll succeeded (timed out) but its remaining time was lost without an error\n");
  close(p[0]);
  close(p[1]);
  return ret < 0 ? 1 : 0;
}

// FUTEX_WAIT on a word nobody wakes, with a timeout: untouched it returns ETIMEDOUT after the
// timeout; an error injected by fail_futex comes back at once (EFAULT: every should_fail_futex
// site on the FUTEX_WAIT path returns it). The raw syscall, so nothing in libc retries or hides it.
int probe_futex_wait(long timeout_ms, bool private_futex) {
  static uint32_t word = 0;
  timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000};
  int op = FUTEX_WAIT | (private_futex ? FUTEX_PRIVATE_FLAG : 0);
  timespec t0{}, t1{};
  clock_gettime(CLOCK_MONOTONIC, &t0);
  long ret = syscall(SYS_futex, &word, op, 0, &ts, nullptr, 0);
  int err = errno;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long waited_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  printf("futex_wait (%s): returned %ld%s%s after %ld ms (timeout %ld ms)\n", private_futex ? "private" : "shared",
         ret, ret < 0 ? ", errno " : "", ret < 0 ? strerrorname_np(err) : "", waited_ms, timeout_ms);
  if (ret < 0 && err == ETIMEDOUT) return 0;  // what an untouched wait does
  return 1;
}

}  // namespace

int probe_main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string what = argv[1];
  long timeout_ms = 100, fail_nth = 0;
  bool private_futex = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--private" && what == "futex-wait") {
      private_futex = true;
    } else if ((a == "--timeout-ms" || a == "--fail-nth") && i + 1 < argc) {
      char* end = nullptr;
      long v = strtol(argv[++i], &end, 10);
      if (!end || *end || v < 0) return usage();
      (a == "--timeout-ms" ? timeout_ms : fail_nth) = v;
    } else {
      return usage();
    }
  }
  if (what == "ppoll") return probe_ppoll(timeout_ms, fail_nth);
  if (what == "futex-wait" && fail_nth == 0) return probe_futex_wait(timeout_ms, private_futex);
  return usage();
}

}  // namespace fb::agent
