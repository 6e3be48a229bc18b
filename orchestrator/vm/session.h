#pragma once
// What `exec` (and later `run`) and the benchmarks share: pick kernel, image and accelerator,
// boot a VM, connect the agent. Owns everything it starts; destruction tears the VM down.
#include "common/temp_dir.h"
#include "orchestrator/core/error_injection.h"
#include "orchestrator/vm/accel.h"
#include "orchestrator/vm/agent_client.h"
#include "orchestrator/vm/vm.h"

#include <memory>
#include <optional>

namespace fb {

struct SessionOptions {
  // A backend of the registry (vm.h make_backend): "qemu", "libvirt", or "fake" (the agent as a
  // host process: no kernel, image or accelerator; for the engine's own tests).
  std::string backend = "qemu";
  std::string connect_uri;  // libvirt's daemon (empty: libvirt's default URI)
  std::string name_hint = "exec";  // what the VM is for, in names a person sees (virsh list)
  std::filesystem::path agent;          // the fake backend's agent binary
  std::vector<std::string> agent_args;  // and its extra arguments
  std::string kernel;  // empty: the cached default kernel (built when missing)
  std::string initrd;  // empty: the default image (built when missing)
  std::vector<std::string> includes;
  int memory_mb = 256;
  int cpus = 1;
  std::string accel = "auto";
  bool echo_console = false;
  std::vector<DiskSpec> disks;
  std::string extra_cmdline;
  std::vector<std::string> extra_qemu_args;  // VmSpec::extra_qemu_args (qemu backend only)
  // "initramfs" (the image unpacked into guest RAM) or "disk": the same content in an ext4
  // root on a virtio disk of its own (orchestrator/disks/root_image.h), for big workloads.
  std::string root = "initramfs";
  std::uint64_t root_size = 0;                  // disk root's size; 0: the content plus headroom
  std::string root_size_origin = "--root-size";  // where root_size came from, for errors
};

class Session {
 public:
  static Result<std::unique_ptr<Session>> boot(const SessionOptions& o);
  ~Session();

  AgentClient& agent() { return *agent_; }
  Vm& vm() { return *vm_; }
  const AgentHello& hello() const { return hello_; }
  const std::filesystem::path& kernel() const { return kernel_; }
  asio::io_context& io() { return io_; }
  const Timeouts& timeouts() const { return timeouts_; }
  const char* backend_name() const { return backend_->name(); }
  Status shutdown();

 private:
  Session() = default;
  static Result<std::unique_ptr<Session>> boot_fake(const SessionOptions& o, std::unique_ptr<Backend> backend);
  Status start_vm(const VmSpec& spec);
  asio::io_context io_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Vm> vm_;
  std::unique_ptr<AgentClient> agent_;
  AgentHello hello_;
  std::filesystem::path kernel_;
  Timeouts timeouts_;
  TempDir root_overlay_dir_;  // the disk root's per-run overlay; removed after the VM is gone
};

// Resolves the kernel and image the way `exec` does (used by `doctor` and the bench too).
Result<std::filesystem::path> resolve_kernel(const std::string& kernel);
// The error-injection list a booted kernel reported in hello; nullopt when it has none.
std::optional<ErrorInjectionList> error_injection_list_of(const AgentHello& hello);

// The kernel resolve_kernel would use, if it exists already (never builds one).
Result<std::optional<std::filesystem::path>> find_kernel(const std::string& kernel);
Result<std::filesystem::path> resolve_initrd(const std::string& initrd, const std::vector<std::string>& includes);

// Installs SIGINT/SIGTERM/SIGHUP handling: while a VM is up the signal only sets a flag so
// the owners can tear down; otherwise the default action runs.
void install_signal_handlers();
void set_vm_phase(bool active);

}  // namespace fb
