// faultbox doctor: what this host offers, in a few lines.
#include "common/process.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/session_options.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/install_paths.h"
#include "orchestrator/core/kernel_builder.h"
#include "orchestrator/core/log.h"
#include "orchestrator/disks/disk_image.h"
#include "orchestrator/vm/accel.h"
#include "orchestrator/vm/libvirt_backend.h"
#include "orchestrator/vm/qemu.h"

#include "common/clock.h"

#include <cstdio>
#include <sys/utsname.h>
#include <tuple>

namespace fb::cli {

namespace {

std::string libvirt_version_string(unsigned long v) {
  return fmt::format("{}.{}.{}", v / 1000000, v / 1000 % 1000, v % 1000);
}

// The libvirt daemon behind uri: does it answer, which versions, and does a faultbox domain
// boot to its agent there. Returns the number of problems.
int check_libvirt(const std::string& uri) {
  auto conn = libvirt_connect(uri);
  if (!conn) {
    printf("libvirt: FAILED: %s\n", conn.error().message.c_str());
    return 1;
  }
  unsigned long lib = 0, hv = 0;
  virConnectGetLibVersion(conn->get(), &lib);
  virConnectGetVersion(conn->get(), &hv);
  char* real_uri = virConnectGetURI(conn->get());
  printf("libvirt: %s answers: libvirt %s, QEMU %s\n", real_uri ? real_uri : uri.c_str(),
         libvirt_version_string(lib).c_str(), libvirt_version_string(hv).c_str());
  free(real_uri);
  conn->reset();
  fflush(stdout);
  SessionOptions so;
  so.backend = "libvirt";
  so.connect_uri = uri;
  so.name_hint = "doctor";
  auto t0 = std::chrono::steady_clock::now();
  auto session = Session::boot(so);
  if (!session) {
    printf("domain:  FAILED: %s\n", session.error().message.c_str());
    return 1;
  }
  double up = seconds_since(t0);
  std::string what = (*session)->vm().describe();
  auto st = (*session)->shutdown();
  printf("domain:  %s booted to the agent in %.1f s%s\n", what.c_str(), up,
         st ? "" : (", shutdown failed: " + st.error().message).c_str());
  return st ? 0 : 1;
}

}  // namespace

CommandMain add_doctor(CLI::App& app) {
  auto reprobe = std::make_shared<bool>(false);
  auto skip_guestfs = std::make_shared<bool>(false);
  auto backend = std::make_shared<std::string>();
  auto connect = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("doctor", "Show what this host offers: QEMU, KVM or TCG and why, libguestfs, caches (and a libvirt daemon with --backend libvirt)");
  cmd->add_flag("--reprobe", *reprobe, "forget the cached KVM verdict and probe again");
  cmd->add_flag("--no-guestfs", *skip_guestfs, "skip starting the libguestfs appliance (about 5 s under TCG; 15-30 s the first time, or with libguestfs's own)");
  add_backend_options(*cmd, *backend, *connect);
  return [reprobe, skip_guestfs, backend, connect]() -> int {
    int problems = 0;
    struct utsname u;
    uname(&u);
    printf("host:    %s %s, %u cpus\n", u.sysname, u.release, std::thread::hardware_concurrency());
    auto qemu = qemu_binary();
    if (qemu) {
      auto v = qemu_version(*qemu);
      printf("qemu:    %s (%s)\n", qemu->c_str(), v ? v->c_str() : v.error().message.c_str());
    } else {
      printf("qemu:    MISSING: %s\n", qemu.error().message.c_str());
      ++problems;
    }
    // Where this faultbox takes its own files from: an install prefix or the build tree.
    auto kconfigs = kconfig_dir();
    auto agent = agent_binary();
    printf("data:    %s\n", kconfigs ? kconfigs->parent_path().c_str() : kconfigs.error().message.c_str());
    printf("agent:   %s\n", agent ? agent->c_str() : ("MISSING: " + agent.error().message).c_str());
    if (!agent) ++problems;
    printf("cache:   %s\n", cache_root().c_str());
    auto k = find_cached_kernel({});
    if (k && *k && !(*k)->damage.empty()) {
      printf("kernel:  DAMAGED: %s: %s; rebuild it: %s\n", (*k)->dir.c_str(), (*k)->damage.c_str(),
             kernel_rebuild_command({}).c_str());
      ++problems;
    } else if (k && *k) {
      printf("kernel:  %s (%s)\n", (*k)->bzimage.c_str(), (*k)->release.c_str());
    } else if (!k) {
      printf("kernel:  unknown: %s\n", k.error().message.c_str());
    } else {
      printf("kernel:  not built yet (faultbox kernel build)\n");
    }
    {
      std::error_code ec;
      std::size_t n = 0;
      std::uintmax_t bytes = 0;
      for (auto& e : std::filesystem::directory_iterator(cache_root() / "images", ec)) {
        ++n;
        bytes += std::filesystem::file_size(e.path() / "initramfs.cpio", ec);
      }
      printf("images:  %zu cached boot image(s), %.1f MiB in %s\n", n, static_cast<double>(bytes) / (1 << 20),
             (cache_root() / "images").c_str());
    }
    if (*reprobe) {
      std::error_code ec;
      std::filesystem::remove_all(cache_root() / "accel", ec);
    }
    std::string dev = kvm_device_problem();
    if (!dev.empty()) {
      printf("accel:   tcg (%s)\n", dev.c_str());
    } else if (k && *k && (*k)->damage.empty() && qemu) {
      auto img = resolve_initrd("", {});
      if (img) {
        auto a = choose_accel(AccelRequest::Auto, (*k)->bzimage, *img);
        printf("accel:   %s\n", a ? a->reason.c_str() : a.error().message.c_str());
      } else {
        printf("accel:   unknown: %s\n", img.error().message.c_str());
      }
    } else {
      printf("accel:   /dev/kvm present; probe needs a kernel and QEMU first\n");
    }
    // Scenario disks are made and inspected by the libguestfs appliance: start one for real.
    if (!*skip_guestfs) {
      fflush(stdout);
      auto s = appliance_start_seconds();
      if (s) {
        printf("guestfs: appliance started in %.1f s (tcg): %s\n", s->seconds, s->appliance.c_str());
      } else {
        printf("guestfs: FAILED: %s\n", s.error().message.c_str());
        ++problems;
      }
    }
    // Prepared scenario disks and disk roots: both sparse images made by the appliance.
    for (auto [dir, label, what] : {std::tuple{"disks", "disks:  ", "prepared disk image(s)"},
                                    std::tuple{"roots", "roots:  ", "disk root image(s)"}}) {
      std::error_code ec;
      std::size_t n = 0;
      std::uintmax_t bytes = 0;
      for (auto& e : std::filesystem::directory_iterator(cache_root() / dir, ec)) {
        if (e.path().filename().string().rfind(".partial-", 0) == 0) continue;
        ++n;
        bytes += std::filesystem::file_size(e.path(), ec);
      }
      printf("%s %zu %s, %.1f MiB apparent in %s\n", label, n, what, static_cast<double>(bytes) / (1 << 20),
             (cache_root() / dir).c_str());
    }
    printf("ccache:  %s\n", find_in_path("ccache").empty() ? "not installed (kernel rebuilds are slower)" : "yes");
    if (*backend == "libvirt") problems += check_libvirt(*connect);
    return problems ? 5 : 0;
  };
}

}  // namespace fb::cli
