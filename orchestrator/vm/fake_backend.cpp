// The fake backend: faultbox-agent runs as a host process and connects to the same kind of
// sockets QEMU's chardevs would. Protocol and exec tests run in milliseconds with it; its
// "console" is the agent's stderr.
#include "orchestrator/vm/child_vm.h"

namespace fb {

namespace {

class FakeVm final : public ChildVm {
 public:
  FakeVm(asio::io_context& io, const VmSpec& spec, std::filesystem::path agent, std::vector<std::string> agent_args)
      : ChildVm(io, spec), agent_(std::move(agent)), agent_args_(std::move(agent_args)) {}
  ~FakeVm() override { kill(); }

  Status start() {
    FB_TRY(make_runtime_dir());
    PortListener ports(io_, rundir_.path());
    auto ctl = ports.listen("control");
    if (!ctl) return ctl.error();
    auto trc = ports.listen("trace");
    if (!trc) return trc.error();
    std::vector<std::string> argv = {agent_.string(), "--control", "unix:" + ctl->string(), "--trace", "unix:" + trc->string()};
    argv.insert(argv.end(), agent_args_.begin(), agent_args_.end());
    FB_TRY(spawn(argv));
    FB_TRY(accept_ports(ports));
    control_ = std::make_unique<UnixSocket>(ports.take("control"));
    trace_ = std::make_unique<UnixSocket>(ports.take("trace"));
    return {};
  }

  std::string describe() const override { return fmt::format("fake vm: host agent pid {}", process_.pid()); }

 private:
  void on_stderr(std::string_view d) override {
    stderr_text_.append(d);
    on_console(d);
  }
  std::string exit_reason(const ExitStatus& st) override { return "agent " + st.describe(); }

  std::filesystem::path agent_;
  std::vector<std::string> agent_args_;
};

class FakeBackend final : public Backend {
 public:
  FakeBackend(std::filesystem::path agent, std::vector<std::string> agent_args)
      : agent_(std::move(agent)), agent_args_(std::move(agent_args)) {}
  const char* name() const override { return "fake"; }
  Result<std::unique_ptr<Vm>> start(asio::io_context& io, const VmSpec& spec) override {
    // The agent runs on the host's own root here: there is no kernel to mount a root disk.
    if (spec.disk_root)
      return make_error(ErrorKind::Usage, "the fake backend runs the agent on the host and cannot boot a disk root (root = disk needs qemu)");
    auto vm = std::make_unique<FakeVm>(io, spec, agent_, agent_args_);
    auto st = vm->start();
    if (!st) {
      vm->kill();
      return st.error();
    }
    return std::unique_ptr<Vm>(std::move(vm));
  }

 private:
  std::filesystem::path agent_;
  std::vector<std::string> agent_args_;
};

}  // namespace

std::unique_ptr<Backend> make_fake_backend(std::filesystem::path agent_binary, std::vector<std::string> agent_args) {
  return std::make_unique<FakeBackend>(std::move(agent_binary), std::move(agent_args));
}

}  // namespace fb
