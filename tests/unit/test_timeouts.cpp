#include "orchestrator/core/timeouts.h"

#include <catch2/catch.hpp>

using namespace fb;

TEST_CASE("TCG timeouts are the KVM ones times the slowdown, host-side ones unchanged") {
  auto k = Timeouts::for_accel(Accel::Kvm);
  auto t = Timeouts::for_accel(Accel::Tcg);
  CHECK(k.slowdown == 1.0);
  CHECK(t.slowdown == Timeouts::kTcgSlowdown);
  CHECK(t.boot.count() == static_cast<long>(static_cast<double>(k.boot.count()) * Timeouts::kTcgSlowdown));
  CHECK(t.request.count() == static_cast<long>(static_cast<double>(k.request.count()) * Timeouts::kTcgSlowdown));
  CHECK(t.qemu_connect == k.qemu_connect);
}
