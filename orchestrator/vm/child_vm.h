#pragma once
// What every process-backed VM shares: a runtime dir (with janitor), the process that is the
// VM (QEMU, or the agent itself for the fake backend), its stderr, its exit, and the console.
#include "common/fd.h"
#include "common/temp_dir.h"
#include "orchestrator/vm/port_listener.h"
#include "orchestrator/vm/vm.h"

namespace fb {

class ChildVm : public Vm {
 public:
  ChildVm(asio::io_context& io, VmSpec spec);
  ~ChildVm() override;

  UnixSocket& control() override { return *control_; }
  UnixSocket& trace() override { return *trace_; }
  const std::string& console() const override { return console_text_; }
  std::optional<VmExit> exit_info() const override { return exit_; }
  bool guest_panicked() const override { return guest_panicked_; }
  Status send_sysrq(char) override { return make_error(ErrorKind::Infra, "this VM has no keyboard for sysrq"); }
  const std::string& host_log() const override { return stderr_text_; }
  std::filesystem::path runtime_dir() const override { return rundir_.path(); }
  bool wait_exit(std::chrono::milliseconds timeout) override;
  void kill() override;

 protected:
  // Creates the runtime dir and the console log in it.
  Status make_runtime_dir();
  // Spawns the VM process with stdout+stderr captured and watches for its exit.
  Status spawn(const std::vector<std::string>& argv);
  // Accepts every port the listener has, failing early if the process dies.
  Status accept_ports(PortListener& ports);
  void on_console(std::string_view d);
  virtual void on_stderr(std::string_view d) { stderr_text_.append(d); }
  virtual std::string exit_reason(const ExitStatus& st) { return "process " + st.describe(); }
  virtual void close_extra_sockets() {}
  bool exited_now();

  asio::io_context& io_;
  VmSpec spec_;
  TempDir rundir_;
  ChildProcess process_;
  std::unique_ptr<UnixSocket> control_, trace_;
  std::string stderr_text_;
  std::optional<VmExit> exit_;
  bool guest_panicked_ = false;

 private:
  void note_exit();
  void read_stderr();
  void drain_stderr();

  asio::posix::stream_descriptor pid_watch_;
  asio::posix::stream_descriptor stderr_pipe_;
  std::array<char, 4096> err_buf_{};
  Fd console_log_;
  std::string console_text_;
};

}  // namespace fb
