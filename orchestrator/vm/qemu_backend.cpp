// The direct-QEMU backend: no daemon, one qemu-system-x86_64 process per VM, owned by a
// move-only ChildProcess (dies with us) in its own process group, with a per-VM runtime dir
// that a janitor removes even if we are SIGKILLed.
#include "common/fd.h"
#include "common/temp_dir.h"
#include "orchestrator/core/log.h"
#include "orchestrator/vm/child_vm.h"
#include "orchestrator/vm/qemu.h"
#include "orchestrator/vm/vm.h"
#include "protocol/line_splitter.h"
#include "protocol/protocol.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include <fcntl.h>
#include <unistd.h>

namespace fb {

namespace fs = std::filesystem;

Result<std::string> qemu_binary() {
  if (const char* q = getenv("FAULTBOX_QEMU"); q && *q) {
    if (access(q, X_OK) != 0) return make_error(ErrorKind::Infra, "FAULTBOX_QEMU={} is not executable", q);
    return std::string(q);
  }
  std::string p = find_in_path("qemu-system-x86_64");
  if (p.empty())
    return make_error(ErrorKind::Infra, "qemu-system-x86_64 not found in PATH (apt-get install qemu-system-x86)");
  return p;
}

Result<std::string> qemu_version(const std::string& binary) {
  auto r = run_capture({binary, "--version"}, true);
  if (!r) return r.error();
  if (r->status.code != 0) return make_error(ErrorKind::Infra, "{} --version failed: {}", binary, r->output);
  return r->output.substr(0, r->output.find('\n'));
}

std::vector<std::string> qemu_machine_args(Accel accel) {
  if (accel == Accel::Kvm) return {"-machine", "pc", "-accel", "kvm", "-cpu", "host"};
  return {"-machine", "pc", "-accel", "tcg", "-cpu", "max"};
}

std::optional<DiskBus> disk_bus_named(const std::string& name) {
  if (name == "virtio-blk") return DiskBus::VirtioBlk;
  if (name == "virtio-scsi") return DiskBus::VirtioScsi;
  if (name == "ide") return DiskBus::Ide;
  return std::nullopt;
}

Result<std::vector<std::string>> qemu_disk_args(const std::vector<DiskSpec>& disks) {
  // The pc machine's PIIX3 IDE function is always there (-nodefaults only drops the CD-ROM that
  // would sit on ide.1 unit 0): two channels, two units each.
  static const char* const kIdeSlots[] = {"bus=ide.0,unit=0", "bus=ide.0,unit=1", "bus=ide.1,unit=0", "bus=ide.1,unit=1"};
  std::vector<std::string> args;
  bool scsi_controller = false;
  std::size_t ide_used = 0;
  for (std::size_t i = 0; i < disks.size(); ++i) {
    const DiskSpec& d = disks[i];
    std::string id = "disk" + std::to_string(i);
    std::string serial = d.serial.empty() ? "" : ",serial=" + d.serial;
    args.push_back("-drive");
    args.push_back("file=" + d.file.string() + ",format=" + d.format + ",if=none,id=" + id +
                   (d.read_only ? ",readonly=on" : ""));
    switch (d.bus) {
      case DiskBus::VirtioBlk:
        args.insert(args.end(), {"-device", "virtio-blk-pci,drive=" + id + serial});
        break;
      case DiskBus::VirtioScsi:
        if (!scsi_controller) args.insert(args.end(), {"-device", "virtio-scsi-pci,id=scsi0"});
        scsi_controller = true;
        args.insert(args.end(), {"-device", "scsi-hd,bus=scsi0.0,drive=" + id + serial});
        break;
      case DiskBus::Ide:
        if (ide_used == std::size(kIdeSlots))
          return make_error(ErrorKind::Usage, "disk {}: the pc machine has room for {} IDE disks", d.file.string(),
                            std::size(kIdeSlots));
        args.insert(args.end(), {"-device", std::string("ide-hd,") + kIdeSlots[ide_used++] + ",drive=" + id + serial});
        break;
    }
  }
  return args;
}

namespace {

class QemuVm final : public ChildVm {
 public:
  QemuVm(asio::io_context& io, const VmSpec& spec) : ChildVm(io, spec) {}
  ~QemuVm() override { kill(); }

  Status start() {
    auto qemu = qemu_binary();
    if (!qemu) return qemu.error();
    FB_TRY(make_runtime_dir());
    PortListener ports(io_, rundir_.path());
    std::map<std::string, fs::path> sock;
    for (const char* n : {"console", "qmp", "control", "trace"}) {
      auto p = ports.listen(n);
      if (!p) return p.error();
      sock[n] = *p;
    }
    std::vector<std::string> argv = {*qemu, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                                     "-name", "faultbox,process=faultbox-qemu"};
    for (auto& a : qemu_machine_args(spec_.accel)) argv.push_back(a);
    std::string cmdline = guest_kernel_cmdline(spec_);
    for (auto& a : std::vector<std::string>{
             "-m", std::to_string(spec_.memory_mb), "-smp", std::to_string(spec_.cpus),
             "-kernel", spec_.kernel.string(), "-append", cmdline,
             "-chardev", "socket,id=con,path=" + sock["console"].string(), "-serial", "chardev:con",
             "-chardev", "socket,id=qmp,path=" + sock["qmp"].string(), "-mon", "chardev=qmp,mode=control",
             "-device", "virtio-serial-pci,id=vser0",
             "-chardev", "socket,id=ctl,path=" + sock["control"].string(),
             "-device", std::string("virtserialport,bus=vser0.0,chardev=ctl,name=") + proto::kControlPortName,
             "-chardev", "socket,id=trc,path=" + sock["trace"].string(),
             "-device", std::string("virtserialport,bus=vser0.0,chardev=trc,name=") + proto::kTracePortName,
             "-device", "pvpanic-pci"})
      argv.push_back(a);
    if (!spec_.initrd.empty()) {
      argv.push_back("-initrd");
      argv.push_back(spec_.initrd.string());
    }
    auto disk_args = qemu_disk_args(spec_.disks);
    if (!disk_args) return disk_args.error();
    argv.insert(argv.end(), disk_args->begin(), disk_args->end());
    argv.insert(argv.end(), spec_.extra_qemu_args.begin(), spec_.extra_qemu_args.end());
    std::string line;
    for (auto& a : argv) line += a + " ";
    debug("qemu: {}", line);
    FB_TRY(spawn(argv));
    FB_TRY(accept_ports(ports));
    console_ = std::make_unique<UnixSocket>(ports.take("console"));
    qmp_ = std::make_unique<UnixSocket>(ports.take("qmp"));
    control_ = std::make_unique<UnixSocket>(ports.take("control"));
    trace_ = std::make_unique<UnixSocket>(ports.take("trace"));
    read_forever(*console_, std::make_shared<std::array<char, 65536>>(), [this](std::string_view d) { on_console(d); },
                 [] {});
    read_forever(*qmp_, std::make_shared<std::array<char, 65536>>(), [this](std::string_view d) { on_qmp(d); }, [] {});
    return {};
  }

  Status send_sysrq(char key) override {
    if (exit_ || !qmp_) return make_error(ErrorKind::Infra, "VM gone");
    std::string code(1, key);
    auto k = [](const std::string& c) { return nlohmann::json{{"type", "qcode"}, {"data", c}}; };
    nlohmann::json cmd = {{"execute", "send-key"},
                          {"arguments", {{"keys", {k("alt"), k("sysrq"), k(code)}}, {"hold-time", 100}}}};
    std::string line = cmd.dump() + "\n";
    boost::system::error_code ec;
    asio::write(*qmp_, asio::buffer(line), ec);
    if (ec) return make_error(ErrorKind::Infra, "QMP send-key: {}", ec.message());
    return {};
  }

  std::string describe() const override {
    return fmt::format("qemu pid {} ({}, {} MiB, {} cpu)", process_.pid(), to_string(spec_.accel), spec_.memory_mb,
                       spec_.cpus);
  }

 private:
  std::string exit_reason(const ExitStatus& st) override {
    if (guest_panicked_) return "guest panicked (pvpanic)";
    std::string err = last_lines(stderr_text_, 2);
    return fmt::format("qemu {}{}{}", st.describe(), err.empty() ? "" : ": ", err);
  }

  void close_extra_sockets() override {
    boost::system::error_code ec;
    for (auto* s : {console_.get(), qmp_.get()})
      if (s) s->close(ec);
  }

  void on_qmp(std::string_view d) {
    qmp_lines_.feed(d);
    while (auto item = qmp_lines_.next()) {
      auto* line = std::get_if<std::string>(&*item);
      if (!line) continue;
      auto j = nlohmann::json::parse(*line, nullptr, false);
      if (j.is_discarded()) continue;
      if (j.contains("QMP")) {
        // Greeting: leave capabilities negotiation mode so events flow.
        static const std::string caps = "{\"execute\":\"qmp_capabilities\"}\n";
        boost::system::error_code ec;
        asio::write(*qmp_, asio::buffer(caps), ec);
      } else if (j.value("event", "") == "GUEST_PANICKED") {
        guest_panicked_ = true;
        debug("qmp: GUEST_PANICKED");
      } else if (j.contains("event")) {
        debug("qmp: event {}", j.value("event", ""));
      }
    }
  }

  std::unique_ptr<UnixSocket> console_, qmp_;
  proto::LineSplitter qmp_lines_{1 << 20};
};

class QemuBackend final : public Backend {
 public:
  const char* name() const override { return "qemu"; }
  Result<std::unique_ptr<Vm>> start(asio::io_context& io, const VmSpec& spec) override {
    auto vm = std::make_unique<QemuVm>(io, spec);
    auto st = vm->start();
    if (!st) {
      vm->kill();
      return st.error();
    }
    return std::unique_ptr<Vm>(std::move(vm));
  }
};

}  // namespace

std::unique_ptr<Backend> make_qemu_backend() { return std::make_unique<QemuBackend>(); }

}  // namespace fb
