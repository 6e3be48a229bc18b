#pragma once
// QEMU facts shared by the backend, the accelerator probe and `faultbox doctor`.
#include "common/result.h"
#include "orchestrator/core/timeouts.h"

#include <string>
#include <vector>

namespace fb {

// FAULTBOX_QEMU, else qemu-system-x86_64 from PATH.
Result<std::string> qemu_binary();
// First line of `qemu --version`.
Result<std::string> qemu_version(const std::string& binary);
// -machine/-accel/-cpu for an accelerator.
std::vector<std::string> qemu_machine_args(Accel accel);

}  // namespace fb
