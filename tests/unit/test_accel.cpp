// The KVM verdict cache: what is cached, what is trusted and for how long. No KVM needed: the
// decisions are pure functions of a probe outcome, a cached verdict and the time.
#include "orchestrator/vm/accel.h"
#include "protocol/protocol.h"

#include <catch2/catch.hpp>

using namespace fb;
using namespace std::chrono_literals;

namespace {

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

}  // namespace

TEST_CASE("accel: a timed-out probe is no verdict on KVM: it only holds off the next probe for an hour") {
  auto text = kvm_verdict_json({false, false, "kvm probe timed out after 4000 ms"}, kNow, "6.1.0-18-amd64", "QEMU 7.2.11");
  auto note = parse_kvm_verdict(text);
  REQUIRE(note);
  CHECK_FALSE(note->definite);
  CHECK(use_of_cached_kvm_verdict(*note, kNow + 59min) == CachedVerdictUse::UseCached);
  CHECK(use_of_cached_kvm_verdict(*note, kNow + 60min) == CachedVerdictUse::Reprobe);
  CHECK(accel_choice_from_cache(*note, kNow + 12min).reason ==
        "tcg: kvm probe timed out after 4000 ms 12 min ago (no verdict on KVM; probed again after 1 h, or faultbox "
        "doctor --reprobe)");
  // A definite failure is a verdict: trusted for a day.
  auto verdict = parse_kvm_verdict(kvm_verdict_json({false, true, "failed to set MSR 0x10a"}, kNow, "k", "q"));
  REQUIRE(verdict);
  CHECK(verdict->definite);
  CHECK(use_of_cached_kvm_verdict(*verdict, kNow + 60min) == CachedVerdictUse::UseCached);
  CHECK(accel_choice_from_cache(*verdict, kNow).reason ==
        "tcg: kvm unusable: failed to set MSR 0x10a (cached probe; faultbox doctor --reprobe)");
}

TEST_CASE("accel: a timed-out probe gives TCG for this run and says it is no verdict on KVM, in one line") {
  auto timed_out = accel_choice_from_probe({false, false, "kvm probe timed out after 4000 ms"});
  CHECK(timed_out.accel == Accel::Tcg);
  CHECK(timed_out.reason == "tcg: kvm probe timed out after 4000 ms (no verdict on KVM; not probed again for 1 h)");
  auto broken = accel_choice_from_probe({false, true, "failed to set MSR 0x10a"});
  CHECK(broken.accel == Accel::Tcg);
  CHECK(broken.reason == "tcg: kvm unusable: failed to set MSR 0x10a");
  auto works = accel_choice_from_probe({true, true, {}});
  CHECK(works.accel == Accel::Kvm);
  CHECK(works.reason == "kvm (probe passed)");
}

TEST_CASE("accel: a cached negative verdict is trusted for 24 hours, then probed again") {
  CachedKvmVerdict negative{false, "failed to set MSR 0x10a", kNow - 1h};
  CHECK(use_of_cached_kvm_verdict(negative, kNow) == CachedVerdictUse::UseCached);
  negative.made_at = kNow - 23h - 59min;
  CHECK(use_of_cached_kvm_verdict(negative, kNow) == CachedVerdictUse::UseCached);
  negative.made_at = kNow - 24h;
  CHECK(use_of_cached_kvm_verdict(negative, kNow) == CachedVerdictUse::Reprobe);
  negative.made_at = kNow - 72h;
  CHECK(use_of_cached_kvm_verdict(negative, kNow) == CachedVerdictUse::Reprobe);
  // A clock that went back cannot vouch for the verdict's age.
  negative.made_at = kNow + 1h;
  CHECK(use_of_cached_kvm_verdict(negative, kNow) == CachedVerdictUse::Reprobe);
  // Older faultbox wrote no time (and cached timeouts): probed again.
  negative.made_at.reset();
  CHECK(use_of_cached_kvm_verdict(negative, kNow) == CachedVerdictUse::Reprobe);
}

TEST_CASE("accel: a cached positive verdict is trusted whatever its age") {
  CHECK(use_of_cached_kvm_verdict({true, {}, kNow - 24h * 365}, kNow) == CachedVerdictUse::UseCached);
  CHECK(use_of_cached_kvm_verdict({true, {}, std::nullopt}, kNow) == CachedVerdictUse::UseCached);
}

TEST_CASE("accel: the cache file round-trips the verdict with the time it was made") {
  auto text = kvm_verdict_json({false, true, "failed to set MSR 0x10a"}, kNow, "6.1.0-18-amd64", "QEMU 7.2.11");
  auto v = parse_kvm_verdict(text);
  REQUIRE(v);
  CHECK_FALSE(v->works);
  CHECK(v->why == "failed to set MSR 0x10a");
  REQUIRE(v->made_at);
  CHECK(*v->made_at == kNow);
  // What faultbox wrote before verdicts had a time is still read, without one.
  auto old = parse_kvm_verdict(R"({"kvm_works": false, "why": "probe boot did not reach init within 4000 ms"})");
  REQUIRE(old);
  CHECK_FALSE(old->made_at);
  CHECK(use_of_cached_kvm_verdict(*old, kNow) == CachedVerdictUse::Reprobe);
  CHECK_FALSE(parse_kvm_verdict("not json"));
  CHECK_FALSE(parse_kvm_verdict(R"({"why": "no verdict"})"));
}

TEST_CASE("accel: a probe is classified by what QEMU printed and how it ended") {
  using namespace std::chrono_literals;
  // What QEMU printed on this project's build host: KVM stops the guest, QEMU keeps running.
  const std::string internal_error =
      "KVM internal error. Suberror: 1\nextra data[0]: 0x0000000000000001\nemulation failure\n"
      "RAX=ffff888000140040 RBX=0000000000000000\n";
  auto stopped = classify_kvm_probe(internal_error, ProbeEnd::TimedOut, {}, 4000ms);
  CHECK_FALSE(stopped.works);
  CHECK(stopped.definite);
  CHECK(stopped.why == "KVM internal error. Suberror: 1");
  // QEMU refusing the CPU model exits at once with its own line.
  auto msr = classify_kvm_probe("qemu-system-x86_64: error: failed to set MSR 0x10a to 0x0\n", ProbeEnd::Exited,
                                "exit code 1", 4000ms);
  CHECK(msr.definite);
  CHECK(msr.why == "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x0");
  // Silence until the deadline: a busy host, not evidence.
  auto silent = classify_kvm_probe("", ProbeEnd::TimedOut, {}, 4000ms);
  CHECK_FALSE(silent.works);
  CHECK_FALSE(silent.definite);
  CHECK(silent.why == "kvm probe timed out after 4000 ms");
  // Ended without the marker under -no-reboot: the guest rebooted or panicked.
  auto loop = classify_kvm_probe("", ProbeEnd::Exited, "exit code 0", 4000ms);
  CHECK(loop.definite);
  CHECK(loop.why == "guest never reached init (exit code 0; reboot loop?)");
  // Killed by someone else: says nothing about KVM.
  CHECK_FALSE(classify_kvm_probe("", ProbeEnd::KilledBySignal, "killed by signal 9", 4000ms).definite);
  auto works = classify_kvm_probe(std::string("Linux version 6.1\n") + proto::kProbeMarker + "\n", ProbeEnd::TimedOut, {},
                                  4000ms);
  CHECK(works.works);
  CHECK(works.definite);
}
