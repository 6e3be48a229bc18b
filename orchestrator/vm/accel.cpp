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

namespace {

struct ProbeOutcome {
  bool ok = false;
  std::string why;
};

// Boots the kernel under KVM with the agent in probe mode; success is the marker on the
// serial console. Plain poll() on QEMU's stdout: no event loop needed for one pipe.
ProbeOutcome probe_kvm(const std::string& qemu, const fs::path& kernel, const fs::path& initrd,
                       std::chrono::milliseconds timeout) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return {false, "pipe failed"};
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
  if (!child) return {false, child.error().message};
  w.reset();
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (out.find(proto::kProbeMarker) != std::string::npos) {
      child->kill();
      return {true, {}};
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      child->kill();
      return {false, fmt::format("probe boot did not reach init within {} ms", timeout.count())};
    }
    pollfd pfd{r.get(), POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    ssize_t n = read(r.get(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  auto st = child->wait();
  if (out.find(proto::kProbeMarker) != std::string::npos) return {true, {}};
  // QEMU's own complaint (e.g. "failed to set MSR 0x10a") is the most useful line.
  std::string why;
  for (auto& line : {std::string("error"), std::string("failed"), std::string("qemu-system")}) {
    auto pos = out.find(line);
    if (pos != std::string::npos) {
      auto b = out.rfind('\n', pos);
      auto e = out.find('\n', pos);
      why = out.substr(b == std::string::npos ? 0 : b + 1, e == std::string::npos ? std::string::npos : e - b - 1);
      break;
    }
  }
  if (why.empty()) why = fmt::format("guest never reached init ({}; reboot loop?)", st.describe());
  return {false, why};
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
  if (auto cached = read_file(verdict_file)) {
    auto j = nlohmann::json::parse(*cached, nullptr, false);
    if (!j.is_discarded() && j.contains("kvm_works")) {
      bool works = j["kvm_works"];
      std::string why = j.value("why", "");
      if (works) return AccelChoice{Accel::Kvm, "kvm (probe passed, cached)", true};
      return AccelChoice{Accel::Tcg, "tcg: kvm unusable: " + why + " (cached probe; faultbox doctor --reprobe)", true};
    }
  }
  auto outcome = probe_kvm(*qemu, kernel, initrd, Timeouts::for_accel(Accel::Kvm).accel_probe);
  nlohmann::json verdict = {{"kvm_works", outcome.ok}, {"why", outcome.why}, {"host_kernel", u.release},
                            {"qemu", *version}};
  (void)write_file_atomic(verdict_file, verdict.dump(2));
  if (outcome.ok) return AccelChoice{Accel::Kvm, "kvm (probe passed)", false};
  return AccelChoice{Accel::Tcg, "tcg: kvm unusable: " + outcome.why, false};
}

}  // namespace fb
