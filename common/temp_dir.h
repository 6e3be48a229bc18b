#pragma once
// Move-only owner of a temporary directory, removed with everything in it on destruction.
// With a janitor, removal also happens when this process dies by SIGKILL: a forked helper
// waits for our end of a pipe to close and then removes the directory.
#include "common/fd.h"
#include "common/result.h"

#include <filesystem>
#include <sys/types.h>

namespace fb {

class TempDir {
 public:
  // Creates <parent>/<prefix>XXXXXX. With janitor=true, also forks the janitor; call this only
  // while the process is single-threaded (the orchestrator is).
  static Result<TempDir> create(const std::filesystem::path& parent, const std::string& prefix, bool janitor);

  TempDir() = default;
  TempDir(TempDir&& o) noexcept;
  TempDir& operator=(TempDir&& o) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  const std::filesystem::path& path() const { return path_; }
  void remove();  // idempotent

 private:
  std::filesystem::path path_;
  Fd janitor_pipe_;
  pid_t janitor_pid_ = -1;
};

// $XDG_RUNTIME_DIR/faultbox when usable, else /tmp/faultbox-<uid>; created 0700.
Result<std::filesystem::path> runtime_root();

}  // namespace fb
