#pragma once
// The backend-neutral VM interface (CONVENTIONS 2). A Backend starts a Vm from a VmSpec; a Vm
// hands out its two agent ports as connected sockets, streams its console, and reports once
// when it ends. Backends: qemu (direct, default), libvirt (a transient domain through a libvirt
// daemon, local or remote), fake (agent on the host, for tests).
#include "common/interrupt.h"
#include "common/process.h"
#include "common/result.h"
#include "orchestrator/core/timeouts.h"

#include <boost/asio.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct _virConnect;  // libvirt's connection (virConnectPtr), opaque here

namespace fb {

namespace asio = boost::asio;
using UnixSocket = asio::local::stream_protocol::socket;

// How a disk is attached; the guest sees /dev/vdX for virtio-blk and /dev/sdX for the others.
enum class DiskBus { VirtioBlk, VirtioScsi, Ide };
// "virtio-blk", "virtio-scsi", "ide" (the scenario's spelling); nullopt for anything else.
std::optional<DiskBus> disk_bus_named(const std::string& name);

struct DiskSpec {
  std::filesystem::path file;
  std::string format = "raw";  // raw | qcow2
  std::string serial;          // virtio-blk's serial, or the SCSI/ATA unit serial number (VPD page 0x80)
  bool read_only = false;
  DiskBus bus = DiskBus::VirtioBlk;
};

struct VmSpec {
  std::filesystem::path kernel;
  std::filesystem::path initrd;  // empty with disk_root
  // The first disk is an ext4 root to boot from (root=/dev/vda) instead of an initramfs.
  bool disk_root = false;
  std::string extra_cmdline;
  int memory_mb = 256;
  int cpus = 1;
  Accel accel = Accel::Tcg;
  Timeouts timeouts = Timeouts::for_accel(Accel::Tcg);
  std::vector<DiskSpec> disks;
  bool echo_console = false;  // copy the serial console to our stderr as it arrives
  // What the VM is for ("exec", a scenario's file name): backends that name their VMs where a
  // person sees them (libvirt: `virsh list`) put it in the name.
  std::string name_hint;
  // Devices faultbox itself does not model, appended to QEMU's command line (qemu backend only):
  // bench/ puts qemu-guest-agent's port into the same VM to compare the two agents.
  std::vector<std::string> extra_qemu_args;
};

struct VmExit {
  ExitStatus status;
  bool guest_panicked = false;  // pvpanic reported through QMP
  std::string reason;           // one line: how it ended
};

class Vm {
 public:
  virtual ~Vm() = default;
  virtual UnixSocket& control() = 0;
  virtual UnixSocket& trace() = 0;
  // Everything the serial console printed so far (the tail, when very long).
  virtual const std::string& console() const = 0;
  virtual std::optional<VmExit> exit_info() const = 0;
  // The hypervisor's own word that the guest panicked (pvpanic -> QMP GUEST_PANICKED): known at
  // once, before the console is parsed or the process has gone.
  virtual bool guest_panicked() const = 0;
  // Presses Alt+SysRq+key on the guest's keyboard, which works when the agent no longer answers
  // (a wedged guest still takes keyboard interrupts). Not every backend has a keyboard.
  virtual Status send_sysrq(char key) = 0;
  // What the VM process wrote on stdout/stderr (QEMU's own messages).
  virtual const std::string& host_log() const = 0;
  // Synchronous and idempotent: the VM is gone when it returns.
  virtual void kill() = 0;
  // Waits (running the io_context) up to timeout for the VM to end by itself.
  virtual bool wait_exit(std::chrono::milliseconds timeout) = 0;
  virtual std::string describe() const = 0;
  virtual std::filesystem::path runtime_dir() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  virtual Result<std::unique_ptr<Vm>> start(asio::io_context& io, const VmSpec& spec) = 0;
};

std::unique_ptr<Backend> make_qemu_backend();
// Runs faultbox-agent as a host process connected to the same kind of sockets QEMU would use.
std::unique_ptr<Backend> make_fake_backend(std::filesystem::path agent_binary, std::vector<std::string> agent_args = {});

// The kernel command line faultbox boots with (before VmSpec::extra_cmdline).
std::string base_kernel_cmdline();
// The whole guest command line of a spec, for every backend: base, root, the scenario's words,
// disk-dependent parameters and how long the agent waits for announced disks.
std::string guest_kernel_cmdline(const VmSpec& spec);
// Parameters that depend on the disks: without an ide disk, the PIIX IDE probe (0.45 s of TCG
// boot) is skipped.
std::string disk_kernel_params(const std::vector<DiskSpec>& disks);

class DomainFiles;  // libvirt_backend.h: where a libvirt domain finds kernel, initrd and disks

// Backends by name (CONVENTIONS 2): "qemu" (direct, the default), "libvirt" (connect_uri names
// the daemon), "fake" (the agent as a host process; agent_binary names it).
struct BackendContext {
  std::filesystem::path agent_binary;
  std::vector<std::string> agent_args;  // extra arguments of the fake backend's agent
  std::string connect_uri;              // libvirt: empty for libvirt's default (LIBVIRT_DEFAULT_URI)
  // libvirt: how the daemon reaches faultbox's files; unset: by their local paths (a local
  // daemon). A remote host's storage plugs in here, given the backend's connection.
  std::function<Result<std::unique_ptr<DomainFiles>>(::_virConnect*)> domain_files;
};
// The backends make_backend knows, for messages and --help.
inline constexpr const char* kBackendNames = "qemu, libvirt, fake";
Result<std::unique_ptr<Backend>> make_backend(const std::string& name, const BackendContext& ctx);
// Connects to the daemon (ctx.connect_uri) and destroys domains left by dead faultbox processes.
Result<std::unique_ptr<Backend>> make_libvirt_backend(const BackendContext& ctx);


// Last n lines of text, for error messages.
std::string last_lines(const std::string& text, int n);

// interrupted(), set_interrupted(), interrupt_signal(): common/interrupt.h (included above).

}  // namespace fb
