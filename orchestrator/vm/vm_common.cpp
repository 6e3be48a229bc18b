#include "orchestrator/vm/vm.h"

#include "protocol/protocol.h"

#include <fmt/format.h>

#include <algorithm>

#include <atomic>

namespace fb {

std::string base_kernel_cmdline() {
  // oops=panic + panic=-1 + QEMU -no-reboot: an oops or panic ends the VM at once. (6.1 has
  // no panic_on_oops= boot parameter; an unknown one only lands in init's environment.)
  // loglevel=5 keeps the slow emulated UART quiet during boot but still prints warnings,
  // oopses and stack traces.
  // scsi_debug and null_blk are built in; they create devices only when a scenario asks.
  // console_msg_format=syslog prefixes each console line with "<facility*8+level>", so lines user
  // space wrote to /dev/kmsg (facility >= 1) cannot pass for the kernel's crash report.
  // pty.legacy_count=0: no BSD ptys (/dev/ptyXX, /dev/ttyXX); registering the 256 pairs of the
  // built-in default was the second-slowest initcall under TCG (pty_init, 120-180 ms). Unix98
  // ptys (/dev/ptmx, devpts) are untouched. Set here rather than in kconfigs: the kernel's
  // cache hash stays, so no machine rebuilds its kernel for it (docs/kernel.md).
  return "console=ttyS0 console_msg_format=syslog loglevel=5 panic=-1 oops=panic scsi_debug.add_host=0 "
         "null_blk.nr_devices=0 pty.legacy_count=0";
}

std::string disk_kernel_params(const std::vector<DiskSpec>& disks) {
  bool ide = std::any_of(disks.begin(), disks.end(), [](const DiskSpec& d) { return d.bus == DiskBus::Ide; });
  return ide ? "" : " initcall_blacklist=piix_init";
}

std::string guest_kernel_cmdline(const VmSpec& spec) {
  std::string cmdline = base_kernel_cmdline();
  // A disk root is the first disk; init= because the kernel would look for /sbin/init (busybox's).
  if (spec.disk_root) cmdline += " root=/dev/vda rootfstype=ext4 rw init=/init";
  if (!spec.extra_cmdline.empty()) cmdline += " " + spec.extra_cmdline;
  cmdline += disk_kernel_params(spec.disks);
  // A third of the boot timeout: the agent reports a missing disk well before we give up on it.
  cmdline += fmt::format(" {}{}", proto::kDiskWaitCmdlineParam, (spec.timeouts.boot / 3).count());
  return cmdline;
}

Result<std::unique_ptr<Backend>> make_backend(const std::string& name, const BackendContext& ctx) {
  if (name == "qemu") return make_qemu_backend();
  if (name == "libvirt") return make_libvirt_backend(ctx);
  if (name == "fake") {
    if (ctx.agent_binary.empty()) return make_error(ErrorKind::Usage, "the fake backend needs the agent binary");
    return make_fake_backend(ctx.agent_binary, ctx.agent_args);
  }
  return make_error(ErrorKind::Usage, "unknown backend '{}' (known: {})", name, kBackendNames);
}

std::string last_lines(const std::string& text, int n) {
  std::size_t end = text.size();
  while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r')) --end;
  std::size_t pos = end;
  for (int i = 0; i < n; ++i) {
    if (pos == 0) break;
    std::size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) {
      pos = 0;
      break;
    }
    pos = nl;
  }
  std::string out = text.substr(pos == 0 ? 0 : pos + 1, end - (pos == 0 ? 0 : pos + 1));
  return out;
}

}  // namespace fb
