#include "orchestrator/vm/child_vm.h"

#include "orchestrator/core/log.h"

#include <fcntl.h>
#include <unistd.h>

namespace fb {

namespace {
constexpr std::size_t kConsoleKeepBytes = 8 << 20;
}

ChildVm::ChildVm(asio::io_context& io, VmSpec spec)
    : io_(io), spec_(std::move(spec)), pid_watch_(io), stderr_pipe_(io) {}

ChildVm::~ChildVm() { ChildVm::kill(); }

Status ChildVm::make_runtime_dir() {
  auto root = runtime_root();
  if (!root) return root.error();
  auto dir = TempDir::create(*root, "vm-", /*janitor=*/true);
  if (!dir) return dir.error();
  rundir_ = std::move(*dir);
  console_log_.reset(open((rundir_.path() / "console.log").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  return {};
}

Status ChildVm::spawn(const std::vector<std::string>& argv) {
  int errp[2];
  if (pipe2(errp, O_CLOEXEC) != 0) return make_error(ErrorKind::Infra, "pipe: {}", strerror(errno));
  Fd err_r(errp[0]), err_w(errp[1]);
  SpawnOptions so;
  so.stdout_fd = err_w.get();
  so.stderr_fd = err_w.get();
  so.new_process_group = true;  // Ctrl-C is ours to handle; the VM must not see it first
  auto child = ChildProcess::spawn(argv, so);
  if (!child) return child.error();
  process_ = std::move(*child);
  err_w.reset();
  stderr_pipe_.assign(err_r.release());
  read_stderr();
  pid_watch_.assign(dup(process_.pidfd()));
  pid_watch_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    note_exit();
  });
  return {};
}

Status ChildVm::accept_ports(PortListener& ports) {
  return ports.accept_all(
      spec_.timeouts.qemu_connect, [this] { return !exited_now(); },
      [this] {
        drain_stderr();
        return fmt::format("{} at start: {}", exit_ ? exit_->reason : "exited", last_lines(stderr_text_, 3));
      });
}

bool ChildVm::exited_now() {
  if (exit_) return true;
  if (process_.pid() > 0 && process_.try_wait()) {
    note_exit();
    return true;
  }
  return false;
}

void ChildVm::note_exit() {
  if (exit_) return;
  auto st = process_.try_wait();
  if (!st) st = process_.wait();
  drain_stderr();
  exit_ = VmExit{*st, guest_panicked_, exit_reason(*st)};
}

bool ChildVm::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!exited_now() && std::chrono::steady_clock::now() < deadline) io_.run_one_for(std::chrono::milliseconds(20));
  // The process is gone; what it wrote to its sockets last (the end of a crash report) may
  // still be unread.
  while (exit_ && io_.poll() > 0) {
  }
  return exit_.has_value();
}

void ChildVm::kill() {
  if (process_.pid() > 0 && !exit_) {
    auto st = process_.kill();
    drain_stderr();
    exit_ = VmExit{st, guest_panicked_, "killed by faultbox"};
  }
  boost::system::error_code ec;
  for (auto* s : {control_.get(), trace_.get()})
    if (s) s->close(ec);
  close_extra_sockets();
  pid_watch_.close(ec);
  stderr_pipe_.close(ec);
  rundir_.remove();
}

void ChildVm::read_stderr() {
  stderr_pipe_.async_read_some(asio::buffer(err_buf_), [this](const boost::system::error_code& ec, std::size_t n) {
    if (ec == asio::error::operation_aborted) return;
    if (n) on_stderr(std::string_view(err_buf_.data(), n));
    if (!ec) read_stderr();
  });
}

void ChildVm::drain_stderr() {
  if (!stderr_pipe_.is_open()) return;
  int fd = stderr_pipe_.native_handle();
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  char b[4096];
  ssize_t n;
  while ((n = read(fd, b, sizeof b)) > 0) on_stderr(std::string_view(b, static_cast<std::size_t>(n)));
}

void ChildVm::on_console(std::string_view d) {
  if (console_log_) write_all(console_log_.get(), d.data(), d.size());
  if (spec_.echo_console) write_all(2, d.data(), d.size());
  console_text_.append(d);
  if (console_text_.size() > kConsoleKeepBytes) console_text_.erase(0, console_text_.size() - kConsoleKeepBytes / 2);
}

}  // namespace fb
