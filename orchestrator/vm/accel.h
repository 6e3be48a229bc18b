#pragma once
// Choosing the accelerator. /dev/kvm existing proves nothing (on a VM without nested
// virtualisation QEMU aborts with -cpu host, or the guest reboot-loops with -cpu qemu64), so
// KVM is used only after a real probe boot of the kernel reached PID 1. The verdict is cached
// per host kernel release + QEMU version.
#include "common/result.h"
#include "orchestrator/core/timeouts.h"

#include <filesystem>
#include <string>

namespace fb {

enum class AccelRequest { Auto, Kvm, Tcg };
Result<AccelRequest> parse_accel_request(const std::string& s);

struct AccelChoice {
  Accel accel = Accel::Tcg;
  std::string reason;  // one line: why this accelerator
  bool from_cache = false;
};

// kernel/initrd: what the probe boots (with faultbox.probe=1 the agent prints a marker and
// ends the VM).
Result<AccelChoice> choose_accel(AccelRequest req, const std::filesystem::path& kernel,
                                 const std::filesystem::path& initrd);

// Why KVM cannot even be tried, or empty when /dev/kvm is there and usable by us.
std::string kvm_device_problem();

}  // namespace fb
