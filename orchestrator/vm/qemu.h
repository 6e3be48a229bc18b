#pragma once
// QEMU facts shared by the backend, the accelerator probe and `faultbox doctor`.
#include "common/result.h"
#include "orchestrator/core/timeouts.h"
#include "orchestrator/vm/vm.h"

#include <string>
#include <vector>

namespace fb {

// FAULTBOX_QEMU, else qemu-system-x86_64 from PATH.
Result<std::string> qemu_binary();
// First line of `qemu --version`.
Result<std::string> qemu_version(const std::string& binary);
// -machine/-accel/-cpu for an accelerator.
std::vector<std::string> qemu_machine_args(Accel accel);
// -drive/-device arguments attaching the disks in order: virtio-blk-pci each, one virtio-scsi-pci
// controller for every scsi-hd, the pc machine's PIIX IDE channels (ide.0, ide.1; master, then
// slave) for ide-hd. Fails when more disks are asked for than a bus holds.
Result<std::vector<std::string>> qemu_disk_args(const std::vector<DiskSpec>& disks);

}  // namespace fb
