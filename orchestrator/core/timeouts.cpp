#include "orchestrator/core/timeouts.h"

namespace fb {

const char* to_string(Accel a) { return a == Accel::Kvm ? "kvm" : "tcg"; }

Timeouts Timeouts::for_accel(Accel a) {
  Timeouts t;
  if (a == Accel::Tcg) {
    t.slowdown = kTcgSlowdown;
    auto scale = [&](std::chrono::milliseconds& v) {
      v = std::chrono::milliseconds(static_cast<long>(static_cast<double>(v.count()) * t.slowdown));
    };
    scale(t.boot);
    scale(t.request);
    scale(t.shutdown);
    scale(t.heartbeat_loss);
    scale(t.evidence);
    // qemu_connect is host-side work and does not slow down with TCG.
    // accel_probe is only ever run with KVM.
  }
  return t;
}

}  // namespace fb
