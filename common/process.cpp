#include "common/process.h"

#include <fmt/format.h>

#include <cerrno>
#include <filesystem>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace fb {

std::string ExitStatus::describe() const {
  if (signal) return fmt::format("killed by signal {} ({})", signal, strsignal(signal));
  return fmt::format("exit code {}", code);
}

static ExitStatus decode_wait_status(int st) {
  ExitStatus s;
  if (WIFEXITED(st)) {
    s.code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    s.signal = WTERMSIG(st);
  }
  return s;
}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      pidfd_(std::move(o.pidfd_)),
      own_group_(o.own_group_),
      status_(std::exchange(o.status_, std::nullopt)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    if (running()) kill();
    pid_ = std::exchange(o.pid_, -1);
    pidfd_ = std::move(o.pidfd_);
    own_group_ = o.own_group_;
    status_ = std::exchange(o.status_, std::nullopt);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (running()) kill();
}

Result<ChildProcess> ChildProcess::spawn(const std::vector<std::string>& argv, const SpawnOptions& opts) {
  if (argv.empty()) return make_error(ErrorKind::Usage, "empty command");
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  if (opts.env) {
    for (auto& e : *opts.env) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);
  }
  // exec failure travels back through a close-on-exec pipe: EOF means exec succeeded.
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) != 0) return make_error(ErrorKind::Infra, "pipe: {}", strerror(errno));
  Fd err_r(errpipe[0]), err_w(errpipe[1]);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return make_error(ErrorKind::Infra, "fork: {}", strerror(errno));
  if (pid == 0) {
    // Child: only async-signal-safe calls from here to exec.
    if (opts.die_with_parent) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // parent already gone
    }
    if (opts.new_process_group) setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s : {SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGHUP}) ::signal(s, SIG_DFL);
    int in = opts.stdin_fd;
    if (in < 0) in = open("/dev/null", O_RDONLY);
    if (in != 0) dup2(in, 0);
    if (opts.stdout_fd >= 0 && opts.stdout_fd != 1) dup2(opts.stdout_fd, 1);
    if (opts.stderr_fd >= 0 && opts.stderr_fd != 2) dup2(opts.stderr_fd, 2);
    for (int fd : opts.keep_fds) {
      int flags = fcntl(fd, F_GETFD);
      if (flags >= 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
    }
    if (opts.env) {
      environ = cenv.data();
    }
    execvp(cargv[0], cargv.data());
    int e = errno;
    (void)!write(err_w.get(), &e, sizeof e);
    _exit(127);
  }
  err_w.reset();
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(err_r.get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  ChildProcess cp;
  cp.pid_ = pid;
  cp.own_group_ = opts.new_process_group;
  if (n == sizeof child_errno) {
    int st;
    waitpid(pid, &st, 0);
    cp.pid_ = -1;
    return make_error(ErrorKind::Infra, "cannot run {}: {}", argv[0],
                      strerror(child_errno));
  }
  int pfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pfd >= 0) cp.pidfd_.reset(pfd);
  return cp;
}

std::optional<ExitStatus> ChildProcess::try_wait() {
  if (status_) return status_;
  if (pid_ <= 0) return std::nullopt;
  int st;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) status_ = decode_wait_status(st);
  return status_;
}

ExitStatus ChildProcess::wait() {
  if (status_) return *status_;
  int st;
  pid_t r;
  do {
    r = waitpid(pid_, &st, 0);
  } while (r < 0 && errno == EINTR);
  status_ = r == pid_ ? decode_wait_status(st) : ExitStatus{};
  return *status_;
}

void ChildProcess::signal(int sig) {
  if (!running()) return;
  if (own_group_) ::kill(-pid_, sig);
  ::kill(pid_, sig);
}

ExitStatus ChildProcess::kill() {
  if (status_) return *status_;
  if (pid_ <= 0) return ExitStatus{};
  signal(SIGKILL);
  return wait();
}

Result<CapturedRun> run_capture(const std::vector<std::string>& argv, bool merge_stderr) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return make_error(ErrorKind::Infra, "pipe: {}", strerror(errno));
  Fd r(p[0]), w(p[1]);
  SpawnOptions o;
  o.stdout_fd = w.get();
  if (merge_stderr) o.stderr_fd = w.get();
  auto child = ChildProcess::spawn(argv, o);
  if (!child) return child.error();
  w.reset();
  CapturedRun out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(r.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.output.append(buf, static_cast<size_t>(n));
  }
  out.status = child->wait();
  return out;
}

std::string find_in_path(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : std::string{};
  const char* path = getenv("PATH");
  std::string_view rest = path ? path : "/usr/local/bin:/usr/bin:/bin";
  for (;;) {
    std::size_t colon = rest.find(':');
    std::string_view dir = rest.substr(0, colon);
    std::filesystem::path cand = std::filesystem::path(dir.empty() ? "." : std::string(dir)) / name;
    struct stat st;
    if (stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(cand.c_str(), X_OK) == 0) return cand.string();
    if (colon == std::string_view::npos) return {};
    rest.remove_prefix(colon + 1);
  }
}

}  // namespace fb
