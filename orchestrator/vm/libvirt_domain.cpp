// The libvirt backend's pure parts: domain XML, owner records, the orphan rule, keycodes.
#include "common/files.h"
#include "orchestrator/core/printable.h"
#include "orchestrator/vm/libvirt_backend.h"
#include "protocol/protocol.h"

#include <fmt/format.h>

#include <fstream>
#include <regex>
#include <sstream>

#include <unistd.h>

namespace fb {

std::optional<LibvirtOwner> parse_owner_metadata(const std::string& xml) {
  // libvirt gives the element back re-serialised (its own prefix, quote style and spacing):
  // read the three attributes wherever they are, and refuse the record if any is missing.
  auto attr = [&](const char* name) -> std::optional<std::string> {
    std::regex re(std::string("\\b") + name + "\\s*=\\s*(['\"])([^'\"]*)\\1");
    std::smatch m;
    if (!std::regex_search(xml, m, re)) return std::nullopt;
    return m[2].str();
  };
  auto pid = attr("pid"), start = attr("start_ticks"), boot = attr("boot_id");
  if (!pid || !start || !boot || boot->empty()) return std::nullopt;
  LibvirtOwner o;
  try {
    std::size_t used = 0;
    o.pid = std::stol(*pid, &used);
    if (used != pid->size() || o.pid <= 0) return std::nullopt;
    o.start_ticks = std::stoull(*start, &used);
    if (used != start->size()) return std::nullopt;
  } catch (...) {
    return std::nullopt;
  }
  o.boot_id = *boot;
  return o;
}

std::string domain_name(const std::string& hint, long pid, unsigned n) {
  std::string h;
  for (char c : hint) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    if (h.size() == 40) break;
    if (ok) h += c;
    else if (!h.empty() && h.back() != '-') h += '-';
  }
  while (!h.empty() && (h.back() == '-' || h.back() == '.')) h.pop_back();
  if (h.empty()) h = "vm";
  return fmt::format("{}{}-{}-{}", kDomainNamePrefix, h, pid, n);
}

std::optional<unsigned> linux_keycode(char key) {
  // <linux/input-event-codes.h>: KEY_1..KEY_9 are 2..10, KEY_0 is 11; letters by keyboard row.
  if (key >= '1' && key <= '9') return static_cast<unsigned>(key - '1' + 2);
  if (key == '0') return 11u;
  static const char* const rows[] = {"qwertyuiop", "asdfghjkl", "zxcvbnm"};
  static const unsigned first[] = {16, 30, 44};
  for (int r = 0; r < 3; ++r)
    for (const char* p = rows[r]; *p; ++p)
      if (*p == key) return first[r] + static_cast<unsigned>(p - rows[r]);
  return std::nullopt;
}

Result<std::string> domain_xml(const VmSpec& spec, const std::string& name, const LibvirtOwner& owner,
                               const StagedFiles& files) {
  if (files.disks.size() != spec.disks.size())
    return make_error(ErrorKind::Infra, "domain {}: {} disks staged for {} disks", name, files.disks.size(),
                      spec.disks.size());
  bool kvm = spec.accel == Accel::Kvm;
  std::string x;
  auto add = [&](const std::string& line) { x += line + "\n"; };
  add(fmt::format("<domain type='{}' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>", kvm ? "kvm" : "qemu"));
  add(fmt::format("  <name>{}</name>", xml_escape(name)));
  add("  <metadata>");
  // The element is stored under faultbox's namespace; libvirt gives it this prefix.
  add(fmt::format("    <fb:owner xmlns:fb='{}' pid='{}' start_ticks='{}' boot_id='{}'/>", kOwnerXmlns, owner.pid,
                  owner.start_ticks, xml_escape(owner.boot_id)));
  add("  </metadata>");
  add(fmt::format("  <memory unit='MiB'>{}</memory>", spec.memory_mb));
  add(fmt::format("  <vcpu>{}</vcpu>", spec.cpus));
  add("  <os>");
  // The qemu backend's `-machine pc`: the PIIX IDE the ide bus needs comes with it.
  add("    <type arch='x86_64' machine='pc'>hvm</type>");
  add(fmt::format("    <kernel>{}</kernel>", xml_escape(files.kernel)));
  if (!files.initrd.empty()) add(fmt::format("    <initrd>{}</initrd>", xml_escape(files.initrd)));
  add(fmt::format("    <cmdline>{}</cmdline>", xml_escape(guest_kernel_cmdline(spec))));
  add("  </os>");
  // QEMU's pc machine has ACPI on by default; without it the guest cannot power off.
  add("  <features><acpi/></features>");
  // -cpu host under KVM, -cpu max under TCG, as qemu_machine_args.
  add(kvm ? "  <cpu mode='host-passthrough' check='none'/>" : "  <cpu mode='maximum' check='none'/>");
  // Whatever the guest does to end itself ends the domain; libvirt keeps nothing running.
  add("  <on_poweroff>destroy</on_poweroff>");
  add("  <on_reboot>destroy</on_reboot>");
  add("  <on_crash>destroy</on_crash>");
  add("  <devices>");
  // -nodefaults: no USB, no balloon (libvirt would add both to a pc machine).
  add("    <controller type='usb' model='none'/>");
  add("    <memballoon model='none'/>");
  add("    <serial type='pty'><target port='0'/></serial>");
  add("    <console type='pty'><target type='serial' port='0'/></console>");
  add("    <controller type='virtio-serial' index='0'/>");
  for (const char* port : {proto::kControlPortName, proto::kTracePortName})
    add(fmt::format("    <channel type='unix'><source mode='bind'/><target type='virtio' name='{}'/></channel>", port));
  // libvirt 9.0 does not know pvpanic-pci; the ISA pvpanic at its usual port reports the same panic.
  add("    <panic model='isa'><address type='isa' iobase='0x505'/></panic>");
  bool scsi_controller = false;
  unsigned virtio = 0, scsi = 0, ide = 0;
  for (std::size_t i = 0; i < spec.disks.size(); ++i) {
    const DiskSpec& d = spec.disks[i];
    std::string target, address;
    switch (d.bus) {
      case DiskBus::VirtioBlk:
        target = fmt::format("<target dev='vd{}' bus='virtio'/>", static_cast<char>('a' + virtio++));
        break;
      case DiskBus::VirtioScsi:
        if (!scsi_controller) add("    <controller type='scsi' index='0' model='virtio-scsi'/>");
        scsi_controller = true;
        target = fmt::format("<target dev='sd{}' bus='scsi'/>", static_cast<char>('a' + scsi));
        address = fmt::format("<address type='drive' controller='0' bus='0' target='0' unit='{}'/>", scsi++);
        break;
      case DiskBus::Ide:
        // The PIIX channels in the qemu backend's order: ide.0 master, slave, then ide.1.
        if (ide == 4)
          return make_error(ErrorKind::Usage, "disk {}: the pc machine has room for 4 IDE disks", d.file.string());
        target = fmt::format("<target dev='hd{}' bus='ide'/>", static_cast<char>('a' + ide));
        address = fmt::format("<address type='drive' controller='0' bus='{}' target='0' unit='{}'/>", ide / 2, ide % 2);
        ++ide;
        break;
    }
    if (virtio > 26 || scsi > 26) return make_error(ErrorKind::Usage, "more than 26 disks on one bus");
    std::string serial = d.serial.empty() ? "" : fmt::format("<serial>{}</serial>", xml_escape(d.serial));
    add(fmt::format("    <disk type='file' device='disk'><driver name='qemu' type='{}'/><source file='{}'/>{}{}{}{}</disk>",
                    xml_escape(d.format), xml_escape(files.disks[i]), target, serial, d.read_only ? "<readonly/>" : "",
                    address));
  }
  add("  </devices>");
  // The device the faultbox kernel's pvpanic driver finds: it has PVPANIC_PCI and no ACPI, so
  // the ISA device above stays silent for it. libvirt 9.0 has no model for it; QEMU's own
  // GUEST_PANICKED event from it still becomes libvirt's crashed event and on_crash. QEMU reads
  // these arguments before libvirt's own devices, so it gets the last slot, which libvirt leaves
  // free (it fills slots from the bottom).
  add("  <qemu:commandline><qemu:arg value='-device'/><qemu:arg value='pvpanic-pci,bus=pci.0,addr=0x1f'/></qemu:commandline>");
  add("</domain>");
  return x;
}

namespace {

class LocalDomainFiles final : public DomainFiles {
 public:
  Result<std::string> stage_input(const std::filesystem::path& local) override {
    return std::filesystem::absolute(local).string();
  }
  Result<std::string> stage_writable(const std::filesystem::path& local) override {
    return std::filesystem::absolute(local).string();
  }
  Status fetch_writable(const std::string&, const std::filesystem::path&) override { return {}; }
};

}  // namespace

std::unique_ptr<DomainFiles> local_domain_files() { return std::make_unique<LocalDomainFiles>(); }

}  // namespace fb
