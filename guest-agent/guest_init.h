#pragma once
// What the agent does as PID 1 of a faultbox guest before it serves the host.
#include "common/fd.h"
#include "common/result.h"

#include <string>

namespace fb::agent {

// Mounts proc, sys, devtmpfs, debugfs, tracefs, cgroup2, configfs and tmpfs where they
// belong. Failures are reported on the console but are not fatal: a kernel without, say,
// tracefs still runs workloads.
void mount_guest_filesystems();

std::string read_kernel_cmdline();
bool cmdline_has(const std::string& cmdline, const std::string& word);

// Finds the virtio-serial port with this name through /sys/class/virtio-ports (there is no
// udev to make /dev/virtio-ports/ links) and opens it; waits up to timeout_ms for it to appear.
Result<Fd> open_virtio_port(const std::string& name, int timeout_ms);

// Ends the VM. With QEMU's -no-reboot a reboot ends the QEMU process, which works without
// ACPI (tinyconfig has none, so power-off would only halt).
[[noreturn]] void end_vm();

}  // namespace fb::agent
