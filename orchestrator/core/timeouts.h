#pragma once
// Every deadline faultbox waits on, in one place, scaled by the accelerator (CONVENTIONS 8).
// Values are for KVM; TCG multiplies them by kTcgSlowdown (guest code runs ~10x slower).
#include <chrono>
#include <string>

namespace fb {

enum class Accel { Kvm, Tcg };
const char* to_string(Accel a);

struct Timeouts {
  static constexpr double kTcgSlowdown = 10.0;

  double slowdown = 1.0;
  std::chrono::milliseconds qemu_connect{5000};   // QEMU connects its chardev sockets to us
  std::chrono::milliseconds boot{6000};           // QEMU start -> agent ready
  std::chrono::milliseconds request{3000};        // one control request -> its reply
  std::chrono::milliseconds shutdown{3000};       // shutdown request -> QEMU gone
  std::chrono::milliseconds accel_probe{4000};    // the KVM probe boot
  std::chrono::milliseconds heartbeat_interval{1000};  // agent heartbeat period (guest clock; not scaled)
  std::chrono::milliseconds heartbeat_loss{3000};      // silence after which the guest counts as wedged
  std::chrono::milliseconds evidence{2000};            // sysrq output to reach the console
  std::chrono::milliseconds panic_exit{3000};          // pvpanic event -> QEMU gone (host-side; not scaled)

  static Timeouts for_accel(Accel a);
};

}  // namespace fb
