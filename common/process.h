#pragma once
// Move-only owner of a child process. The child dies with us (PR_SET_PDEATHSIG), may get its
// own process group (so a terminal's Ctrl-C reaches only us, and we decide how it ends), and is
// watched through a pidfd so it can sit in an event loop.
#include "common/fd.h"
#include "common/result.h"

#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace fb {

struct SpawnOptions {
  int stdin_fd = -1;   // -1: /dev/null
  int stdout_fd = -1;  // -1: inherit
  int stderr_fd = -1;  // -1: inherit
  bool new_process_group = false;
  bool die_with_parent = true;
  std::vector<int> keep_fds;  // passed through exec at the same numbers
  std::optional<std::vector<std::string>> env;  // replaces the environment when set
};

struct ExitStatus {
  int code = -1;    // exit code, or -1 when killed by a signal
  int signal = 0;   // terminating signal, 0 when exited normally
  bool exited_normally() const { return signal == 0; }
  // Shell convention: 128 + signal for a killed process.
  int shell_code() const { return signal ? 128 + signal : code; }
  std::string describe() const;
};

class ChildProcess {
 public:
  static Result<ChildProcess> spawn(const std::vector<std::string>& argv, const SpawnOptions& opts = {});

  ChildProcess() = default;
  ChildProcess(ChildProcess&& o) noexcept;
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();  // SIGKILL and reap if still running

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }  // readable once the child has exited
  bool running() const { return pid_ > 0 && !status_; }

  std::optional<ExitStatus> try_wait();  // non-blocking reap
  ExitStatus wait();                     // blocking reap
  // SIGKILL (to the whole group when it has one) and reap. Idempotent.
  ExitStatus kill();
  void signal(int sig);

 private:
  pid_t pid_ = -1;
  Fd pidfd_;
  bool own_group_ = false;
  std::optional<ExitStatus> status_;
};

// Runs argv to completion, capturing stdout (and stderr when merge_stderr).
struct CapturedRun {
  ExitStatus status;
  std::string output;
};
Result<CapturedRun> run_capture(const std::vector<std::string>& argv, bool merge_stderr = false);

// Searches PATH like execvp does; empty when not found.
std::string find_in_path(const std::string& name);

}  // namespace fb
