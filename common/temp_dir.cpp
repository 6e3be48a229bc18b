#include "common/temp_dir.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fb {

namespace fs = std::filesystem;

Result<fs::path> runtime_root() {
  fs::path root;
  const char* xdg = getenv("XDG_RUNTIME_DIR");
  if (xdg && *xdg && access(xdg, W_OK) == 0) {
    root = fs::path(xdg) / "faultbox";
  } else {
    root = fs::path("/tmp") / ("faultbox-" + std::to_string(getuid()));
  }
  if (mkdir(root.c_str(), 0700) != 0 && errno != EEXIST)
    return make_error(ErrorKind::Infra, "cannot create {}: {}", root.string(), strerror(errno));
  struct stat st;
  if (lstat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid())
    return make_error(ErrorKind::Infra, "{} is not a directory owned by uid {}", root.string(), getuid());
  return root;
}

[[noreturn]] static void janitor_main(int pipe_r, const char* dir) {
  // Survive the terminal's Ctrl-C and a TERM to the group: our job starts when the parent is gone.
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  char c;
  while (read(pipe_r, &c, 1) != 0) {
    if (errno != EINTR) break;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  _exit(0);
}

Result<TempDir> TempDir::create(const fs::path& parent, const std::string& prefix, bool janitor) {
  std::string tmpl = (parent / (prefix + "XXXXXX")).string();
  if (!mkdtemp(tmpl.data()))
    return make_error(ErrorKind::Infra, "cannot create a directory under {}: {}", parent.string(), strerror(errno));
  TempDir d;
  d.path_ = tmpl;
  if (janitor) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return make_error(ErrorKind::Infra, "pipe: {}", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
      close(p[0]);
      close(p[1]);
      return make_error(ErrorKind::Infra, "fork: {}", strerror(errno));
    }
    if (pid == 0) {
      close(p[1]);
      // Close everything else so the janitor holds no socket or pipe of ours open.
      for (int fd = 3; fd < 1024; ++fd)
        if (fd != p[0]) close(fd);
      // New group: a Ctrl-C to our group must not reach it, and it must not keep the
      // terminal's job alive after we exit.
      setpgid(0, 0);
      janitor_main(p[0], tmpl.c_str());
    }
    close(p[0]);
    d.janitor_pipe_.reset(p[1]);
    d.janitor_pid_ = pid;
  }
  return d;
}

TempDir::TempDir(TempDir&& o) noexcept
    : path_(std::exchange(o.path_, {})),
      janitor_pipe_(std::move(o.janitor_pipe_)),
      janitor_pid_(std::exchange(o.janitor_pid_, -1)) {}

TempDir& TempDir::operator=(TempDir&& o) noexcept {
  if (this != &o) {
    remove();
    path_ = std::exchange(o.path_, {});
    janitor_pipe_ = std::move(o.janitor_pipe_);
    janitor_pid_ = std::exchange(o.janitor_pid_, -1);
  }
  return *this;
}

TempDir::~TempDir() { remove(); }

void TempDir::remove() {
  if (!path_.empty()) {
    std::error_code ec;
    fs::remove_all(path_, ec);
    path_.clear();
  }
  janitor_pipe_.reset();
  if (janitor_pid_ > 0) {
    int st;
    while (waitpid(janitor_pid_, &st, 0) < 0 && errno == EINTR) {
    }
    janitor_pid_ = -1;
  }
}

}  // namespace fb
