#include "orchestrator/cli/session_options.h"

#include "orchestrator/core/scenario.h"

namespace fb::cli {

namespace {

CLI::Option* add_backend_option(CLI::App& cmd, std::string& backend) {
  return cmd
      .add_option("--backend", backend,
                  "qemu (default: a QEMU process of faultbox's own) | libvirt (a transient domain through a libvirt "
                  "daemon)")
      ->check(CLI::IsMember({"qemu", "libvirt"}));
}

constexpr const char* kConnectHelp =
    "libvirt URI, e.g. qemu:///system or qemu+ssh://user@host/system (default: libvirt's default; implies --backend "
    "libvirt)";

}  // namespace

void add_backend_options(CLI::App& cmd, std::string& backend, std::string& connect) {
  auto* backend_opt = add_backend_option(cmd, backend);
  cmd.add_option("--connect", connect, kConnectHelp)->each([&backend, backend_opt](const std::string&) {
    if (backend_opt->count() == 0) backend = "libvirt";
  });
}

void add_backend_options(CLI::App& cmd, std::string& backend, std::vector<std::string>& connects) {
  auto* backend_opt = add_backend_option(cmd, backend);
  cmd.add_option("--connect", connects, std::string(kConnectHelp) + "; given more than once, the runs spread over those hosts")
      ->allow_extra_args(false)
      ->each([&backend, backend_opt](const std::string&) {
        if (backend_opt->count() == 0) backend = "libvirt";
      });
}

void add_session_options(CLI::App& cmd, SessionOptions& o) {
  add_backend_options(cmd, o.backend, o.connect_uri);
  cmd.add_option("--kernel", o.kernel, "bzImage to boot (default: the cached faultbox kernel, built if missing)");
  cmd.add_option("--initrd", o.initrd, "initramfs to boot (default: the faultbox image, built if missing)");
  cmd.add_option("--include", o.includes, "host binary to copy into the image with its libraries (repeatable)")
      ->allow_extra_args(false);  // one value per occurrence: a later "--" still starts the command
  cmd.add_option("--memory", o.memory_mb, "guest memory in MiB")->check(CLI::Range(64, 65536));
  cmd.add_option("--cpus", o.cpus, "guest CPUs")->check(CLI::Range(1, 64));
  cmd.add_option("--accel", o.accel, "auto | kvm | tcg (auto probes KVM once and falls back to TCG)");
  cmd.add_flag("--console", o.echo_console, "copy the guest's serial console to stderr");
  cmd.add_option("--root", o.root,
                 "initramfs (default) | disk: boot from an ext4 root disk holding the same files (for workloads too "
                 "big for guest RAM)")
      ->check(CLI::IsMember({"initramfs", "disk"}));
  cmd.add_option_function<std::string>(
      "--root-size",
      [&o](const std::string& v) {
        auto b = parse_size(v);
        if (!b || *b == 0) throw CLI::ValidationError("--root-size", "'" + v + "' is not a size such as 512M or 1G");
        o.root_size = *b;
      },
      "size of the disk root, e.g. 1G (default: its files twice over plus 64M, at least 256M)");
}

}  // namespace fb::cli
