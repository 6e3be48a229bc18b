#include "orchestrator/vm/accel.h"

#include "common/fd.h"
#include "common/files.h"
#include "common/process.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/log.h"
#include "orchestrator/vm/qemu.h"
#include "orchestrator/vm/vm.h"
#include "protocol/protocol.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/utsname.h>
#include <unistd.h>

namespace fb {

namespace fs = std::filesystem;

Result<AccelRequest> parse_accel_request(const std::string& s) {
  if (s == "auto") return AccelRequest::Auto;
  if (s == "kvm") return AccelRequest::Kvm;
  if (s == "tcg") return AccelRequest::Tcg;
  return make_error(ErrorKind::Usage, "--accel must be auto, kvm or tcg, not '{}'", s);
}

std::string kvm_device_problem() {
  if (access("/dev/kvm", F_OK) != 0) return "no /dev/kvm";
  if (access("/dev/kvm", R_OK | W_OK) != 0) return "/dev/kvm not accessible (add the user to group kvm)";
  return {};
}

CachedVerdictUse use_of_cached_kvm_verdict(const CachedKvmVerdict& cached, std::chrono::system_clock::time_point now) {
  if (cached.works) return CachedVerdictUse::UseCached;
  if (!cached.made_at) return CachedVerdictUse::Reprobe;
  auto age = now - *cached.made_at;
  auto max_age = cached.definite ? std::chrono::system_clock::duration(kKvmNegativeVerdictMaxAge)
                                 : std::chrono::system_clock::duration(kKvmTimedOutProbeMaxAge);
  if (age < std::chrono::system_clock::duration::zero() || age >= max_age) return CachedVerdictUse::Reprobe;
  return CachedVerdictUse::UseCached;
}

AccelChoice accel_choice_from_cache(const CachedKvmVerdict& cached, std::chrono::system_clock::time_point now) {
  if (cached.works) return AccelChoice{Accel::Kvm, "kvm (probe passed, cached)", true};
  if (cached.definite)
    return AccelChoice{Accel::Tcg, "tcg: kvm unusable: " + cached.why + " (cached probe; faultbox doctor --reprobe)", true};
  auto minutes = cached.made_at ? std::chrono::duration_cast<std::chrono::minutes>(now - *cached.made_at).count() : 0;
  return AccelChoice{Accel::Tcg,
                     fmt::format("tcg: {} {} min ago (no verdict on KVM; probed again after {} h, or faultbox doctor "
                                 "--reprobe)",
                                 cached.why, minutes, kKvmTimedOutProbeMaxAge.count()),
                     true};
}

std::string kvm_verdict_json(const KvmProbeOutcome& outcome, std::chrono::system_clock::time_point now,
                             const std::string& host_kernel, const std::string& qemu_version) {
  auto made_at = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  nlohmann::json verdict = {{"kvm_works", outcome.works}, {"why", outcome.why},     {"made_at_unix", made_at},
                            {"definite", outcome.definite}, {"host_kernel", host_kernel},  {"qemu", qemu_version}};
  return verdict.dump(2);
}

std::optional<CachedKvmVerdict> parse_kvm_verdict(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("kvm_works") || !j["kvm_works"].is_boolean()) return std::nullopt;
  CachedKvmVerdict v;
  v.works = j["kvm_works"].get<bool>();
  if (j.contains("why") && j["why"].is_string()) v.why = j["why"].get<std::string>();
  if (j.contains("made_at_unix") && j["made_at_unix"].is_number_integer())
    v.made_at = std::chrono::system_clock::time_point(std::chrono::seconds(j["made_at_unix"].get<std::int64_t>()));
  if (j.contains("definite") && j["definite"].is_boolean()) v.definite = j["definite"].get<bool>();
  return v;
}

AccelChoice accel_choice_from_probe(const KvmProbeOutcome& outcome) {
  if (outcome.works) return AccelChoice{Accel::Kvm, "kvm (probe passed)", false};
  if (!outcome.definite)
    return AccelChoice{Accel::Tcg,
                       fmt::format("tcg: {} (no verdict on KVM; not probed again for {} h)", outcome.why,
                                   kKvmTimedOutProbeMaxAge.count()),
                       false};
  return AccelChoice{Accel::Tcg, "tcg: kvm unusable: " + outcome.why, false};
}

KvmProbeOutcome classify_kvm_probe(const std::string& output, ProbeEnd end, const std::string& exit_description,
                                   std::chrono::milliseconds timeout) {
  if (output.find(proto::kProbeMarker) != std::string::npos) return {true, true, {}};
  // QEMU's own complaint (e.g. "failed to set MSR 0x10a", "KVM internal error") is the most useful line.
  for (const char* word : {"error", "failed", "qemu-system"}) {
    auto pos = output.find(word);
    if (pos == std::string::npos) continue;
    auto b = output.rfind('\n', pos);
    auto e = output.find('\n', pos);
    b = b == std::string::npos ? 0 : b + 1;
    return {false, true, output.substr(b, e == std::string::npos ? std::string::npos : e - b)};
  }
  switch (end) {
    case ProbeEnd::TimedOut:
      // Slow is not broken: a loaded host can miss the deadline with a working KVM.
      return {false, false, fmt::format("kvm probe timed out after {} ms", timeout.count())};
    case ProbeEnd::KilledBySignal:
      return {false, false, fmt::format("kvm probe QEMU ended early ({})", exit_description)};
    case ProbeEnd::Exited:
      break;
  }
  return {false, true, fmt::format("guest never reached init ({}; reboot loop?)", exit_description)};
}

namespace {

// Boots the kernel under KVM with the agent in probe mode; success is the marker on the
// serial console. Plain poll() on QEMU's stdout: no event loop needed for one pipe.
KvmProbeOutcome probe_kvm(const std::string& qemu, const fs::path& kernel, const fs::path& initrd,
                          std::chrono::milliseconds timeout) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return {false, false, fmt::format("kvm probe could not run: pipe: {}", strerror(errno))};
  Fd r(p[0]), w(p[1]);
  std::vector<std::string> argv = {qemu, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"};
  for (auto& a : qemu_machine_args(Accel::Kvm)) argv.push_back(a);
  for (auto& a : std::vector<std::string>{"-m", "128", "-kernel", kernel.string(), "-initrd", initrd.string(),
                                          "-append", "console=ttyS0 panic=-1 loglevel=1 faultbox.probe=1",
                                          "-serial", "stdio"})
    argv.push_back(a);
  SpawnOptions so;
  so.stdout_fd = w.get();
  so.stderr_fd = w.get();
  so.new_process_group = true;
  auto child = ChildProcess::spawn(argv, so);
  if (!child) return {false, false, "kvm probe could not run: " + child.error().message};
  w.reset();
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (out.find(proto::kProbeMarker) != std::string::npos) {
      child->kill();
      return {true, true, {}};
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      child->kill();
      return classify_kvm_probe(out, ProbeEnd::TimedOut, {}, timeout);
    }
    pollfd pfd{r.get(), POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    ssize_t n = read(r.get(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  auto st = child->wait();
  return classify_kvm_probe(out, st.exited_normally() ? ProbeEnd::Exited : ProbeEnd::KilledBySignal, st.describe(),
                            timeout);
}

}  // namespace

Result<AccelChoice> choose_accel(AccelRequest req, const fs::path& kernel, const fs::path& initrd) {
  if (req == AccelRequest::Tcg) return AccelChoice{Accel::Tcg, "tcg as requested (--accel tcg)", false};
  std::string dev = kvm_device_problem();
  if (req == AccelRequest::Kvm) {
    if (!dev.empty()) return make_error(ErrorKind::Infra, "--accel kvm: {}", dev);
    return AccelChoice{Accel::Kvm, "kvm as requested (--accel kvm)", false};
  }
  if (!dev.empty()) return AccelChoice{Accel::Tcg, "tcg: " + dev, false};

  auto qemu = qemu_binary();
  if (!qemu) return qemu.error();
  auto version = qemu_version(*qemu);
  if (!version) return version.error();
  struct utsname u;
  uname(&u);
  std::string key = sha256_hex(std::string(u.release) + "\n" + *version).substr(0, 16);
  auto dir = cache_subdir("accel");
  if (!dir) return dir.error();
  fs::path verdict_file = *dir / (key + ".json");
  auto now = std::chrono::system_clock::now();
  auto cached_choice = [&]() -> std::optional<AccelChoice> {
    auto text = read_file(verdict_file);
    if (!text) return std::nullopt;
    auto cached = parse_kvm_verdict(*text);
    if (cached && use_of_cached_kvm_verdict(*cached, now) == CachedVerdictUse::UseCached)
      return accel_choice_from_cache(*cached, now);
    return std::nullopt;
  };
  if (auto choice = cached_choice()) return *choice;
  // Parallel runs (`run --jobs`) are processes that all need this verdict: one probes, the
  // others wait for its verdict instead of each booting a probe VM.
  auto lock = lock_cache_entry(verdict_file, "accel");
  if (!lock) return lock.error();
  if (auto choice = cached_choice()) return *choice;
  auto outcome = probe_kvm(*qemu, kernel, initrd, Timeouts::for_accel(Accel::Kvm).accel_probe);
  // A timed-out probe is written too, marked as no verdict: it only holds off the next probe.
  (void)write_file_atomic(verdict_file, kvm_verdict_json(outcome, now, u.release, *version));
  return accel_choice_from_probe(outcome);
}

}  // namespace fb
