#pragma once
// Choosing the accelerator. /dev/kvm existing proves nothing (on a VM without nested
// virtualisation QEMU aborts with -cpu host, or the guest reboot-loops with -cpu qemu64), so
// KVM is used only after a real probe boot of the kernel reached PID 1. A definite verdict is
// cached per host kernel release + QEMU version; a negative one only for kKvmNegativeVerdictMaxAge.
#include "common/result.h"
#include "orchestrator/core/timeouts.h"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace fb {

enum class AccelRequest { Auto, Kvm, Tcg };
Result<AccelRequest> parse_accel_request(const std::string& s);

struct AccelChoice {
  Accel accel = Accel::Tcg;
  std::string reason;  // one line: why this accelerator
  bool from_cache = false;
};

// What one KVM probe boot showed. Only a definite outcome (the marker seen, QEMU's own error,
// QEMU ending without the marker) says something about KVM; a timeout on a busy host does not.
struct KvmProbeOutcome {
  bool works = false;
  bool definite = false;
  std::string why;  // why KVM cannot be used; empty when it works
};

// How a probe boot's QEMU ended.
enum class ProbeEnd {
  Exited,          // on its own: -no-reboot turns a guest reboot or panic into an exit
  KilledBySignal,  // by someone else (the OOM killer, a user)
  TimedOut,        // still running at the deadline; faultbox killed it
};

// The outcome of a probe boot from what QEMU printed (console and its own stderr) and how it
// ended. QEMU's own error line is definite even when QEMU is still running at the deadline
// ("KVM internal error" stops the guest but not QEMU).
KvmProbeOutcome classify_kvm_probe(const std::string& output, ProbeEnd end, const std::string& exit_description,
                                   std::chrono::milliseconds timeout);

// A verdict as cached in <cache>/accel/<key>.json.
struct CachedKvmVerdict {
  bool works = false;
  std::string why;
  std::optional<std::chrono::system_clock::time_point> made_at;  // absent in verdicts of older faultbox
  // false: a timed-out probe, kept only so the next runs do not each spend the probe's time
  bool definite = true;
};

// A negative verdict older than this is probed again (the host may have been fixed since).
inline constexpr std::chrono::hours kKvmNegativeVerdictMaxAge{24};
// A timed-out probe says nothing about KVM (a busy host is slow too); it only holds off the next
// probe for this long, so a host where the probe keeps timing out does not pay it on every boot.
inline constexpr std::chrono::hours kKvmTimedOutProbeMaxAge{1};

enum class CachedVerdictUse { UseCached, Reprobe };

// Whether a cached verdict decides this run: a positive one always, a definite negative one while
// it is younger than kKvmNegativeVerdictMaxAge, a timed-out probe's note while it is younger than
// kKvmTimedOutProbeMaxAge (one without a time, or from the future, is re-probed).
CachedVerdictUse use_of_cached_kvm_verdict(const CachedKvmVerdict& cached, std::chrono::system_clock::time_point now);

// The one accel line for a cached verdict or note used at `now`.
AccelChoice accel_choice_from_cache(const CachedKvmVerdict& cached, std::chrono::system_clock::time_point now);

// The cache file's text for an outcome made at `now`, and back; nullopt for text that is not a verdict.
std::string kvm_verdict_json(const KvmProbeOutcome& outcome, std::chrono::system_clock::time_point now,
                             const std::string& host_kernel, const std::string& qemu_version);
std::optional<CachedKvmVerdict> parse_kvm_verdict(const std::string& text);

// The accelerator a fresh probe outcome gives, with its one line (a timed-out probe says it is no
// verdict on KVM).
AccelChoice accel_choice_from_probe(const KvmProbeOutcome& outcome);

// kernel/initrd: what the probe boots (with faultbox.probe=1 the agent prints a marker and
// ends the VM).
Result<AccelChoice> choose_accel(AccelRequest req, const std::filesystem::path& kernel,
                                 const std::filesystem::path& initrd);

// Why KVM cannot even be tried, or empty when /dev/kvm is there and usable by us.
std::string kvm_device_problem();

}  // namespace fb
