// faultbox-agent entry point. As PID 1 of a faultbox guest it sets the system up and serves
// the virtio-serial ports; on the host (tests) it connects to unix sockets instead:
//   faultbox-agent --control unix:PATH --trace unix:PATH
#include "guest-agent/agent.h"
#include "guest-agent/disk_lookup.h"
#include "guest-agent/probe.h"
#include "guest-agent/guest_init.h"
#include "protocol/protocol.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

fb::Result<fb::Fd> connect_unix(const std::string& spec) {
  if (spec.rfind("unix:", 0) != 0)
    return fb::make_error(fb::ErrorKind::Usage, "transport '{}' is not unix:PATH", spec);
  std::string path = spec.substr(5);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return fb::make_error(fb::ErrorKind::Usage, "socket path too long: {}", path);
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  fb::Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fb::make_error(fb::ErrorKind::Infra, "socket: {}", strerror(errno));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return fb::make_error(fb::ErrorKind::Infra, "connect {}: {}", path, strerror(errno));
  return fd;
}

int usage() {
  fprintf(stderr,
          "usage: faultbox-agent [--control unix:PATH --trace unix:PATH]\n"
          "As PID 1 it serves the virtio-serial ports %s and %s.\n",
          fb::proto::kControlPortName, fb::proto::kTracePortName);
  return 2;
}

[[noreturn]] void die_as_init(const std::string& why) {
  fprintf(stderr, "faultbox-agent: fatal: %s\n", why.c_str());
  fb::agent::end_vm();
}

// The scenario's disks must be there before a step or fault looks for them. Built-in drivers
// finish probing before the kernel starts PID 1 (it waits for async probes), but that is the
// kernel's business: waiting for the serials the host announced holds for any bus and kernel.
void wait_for_scenario_disks(const std::string& cmdline) {
  fb::agent::set_named_disks(fb::agent::parse_disk_params(cmdline));
  if (fb::agent::named_disks().empty()) return;
  auto start = std::chrono::steady_clock::now();
  auto missing = fb::agent::wait_for_named_disks("/sys", fb::agent::parse_disk_wait(cmdline, std::chrono::seconds(10)));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  std::string found;
  for (auto& d : fb::agent::named_disks()) {
    std::string dev = fb::agent::find_disk_by_serial("/sys", d.serial);
    found += " " + d.name + "=" + (dev.empty() ? "missing" : dev);
  }
  fprintf(stderr, "faultbox-agent: disks:%s (%s after %lld ms)\n", found.c_str(),
          missing.empty() ? "all present" : "given up", static_cast<long long>(ms));
}

// /dev/disk/by-id as udev would make it, for workloads written against stable names. A link
// that cannot be made is reported and skipped: FAULTBOX_DISK_<NAME> does not depend on it.
void link_disks_by_id() {
  auto links = fb::agent::disk_by_id_links("/sys");
  if (links.empty()) return;
  mkdir("/dev/disk", 0755);
  mkdir("/dev/disk/by-id", 0755);
  for (auto& [name, dev] : links) {
    std::string path = "/dev/disk/by-id/" + name;
    if (symlink(("../../" + dev).c_str(), path.c_str()) != 0 && errno != EEXIST)
      fprintf(stderr, "faultbox-agent: cannot link %s: %s\n", path.c_str(), strerror(errno));
  }
}

}  // namespace

int main(int argc, char** argv) {
  // One static binary, two programs: the image links /usr/bin/faultbox-probe to /init.
  std::string self = argv[0] ? argv[0] : "";
  if (self.substr(self.rfind('/') + 1) == "faultbox-probe") return fb::agent::probe_main(argc, argv);
  std::string control_spec, trace_spec;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--control" || a == "--trace") && i + 1 < argc) {
      (a == "--control" ? control_spec : trace_spec) = argv[++i];
    } else if (a == "--debugfs-root" && i + 1 < argc && getpid() != 1) {
      // Host mode only: the engine's tests arm faults against a debugfs tree they made.
      fb::agent::set_debugfs_root(argv[++i]);
    } else if (a == "--version") {
      printf("faultbox-agent protocol %d\n", fb::proto::kVersion);
      return 0;
    } else if (getpid() != 1) {
      return usage();
    }
  }
  setvbuf(stderr, nullptr, _IOLBF, 0);

  if (getpid() == 1) {
    fb::agent::mount_guest_filesystems();
    std::string cmdline = fb::agent::read_kernel_cmdline();
    if (fb::agent::cmdline_has(cmdline, "faultbox.probe=1")) {
      // Accelerator probe: reaching PID 1 is all it wants to know.
      printf("%s\n", fb::proto::kProbeMarker);
      fflush(stdout);
      fb::agent::end_vm();
    }
    wait_for_scenario_disks(cmdline);
    link_disks_by_id();
    auto control = fb::agent::open_virtio_port(fb::proto::kControlPortName, 10000);
    if (!control) die_as_init(control.error().message);
    auto trace = fb::agent::open_virtio_port(fb::proto::kTracePortName, 10000);
    if (!trace) die_as_init(trace.error().message);
    fb::agent::Agent agent(std::move(*control), std::move(*trace), {.pid1 = true, .step_cgroup_root = "/sys/fs/cgroup/faultbox"});
    agent.run();
    fb::agent::end_vm();
  }

  if (control_spec.empty() || trace_spec.empty()) return usage();
  auto control = connect_unix(control_spec);
  if (!control) {
    fprintf(stderr, "faultbox-agent: %s\n", control.error().message.c_str());
    return 1;
  }
  auto trace = connect_unix(trace_spec);
  if (!trace) {
    fprintf(stderr, "faultbox-agent: %s\n", trace.error().message.c_str());
    return 1;
  }
  fb::agent::Agent agent(std::move(*control), std::move(*trace), {.pid1 = false});
  return agent.run();
}
