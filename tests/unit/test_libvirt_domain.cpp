// The libvirt backend's domain XML (parsed back, device by device), its owner records and the
// rule that finds orphan domains.
#include "orchestrator/vm/libvirt_backend.h"
#include "protocol/protocol.h"

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <catch2/catch.hpp>

#include <sstream>

using namespace fb;
namespace pt = boost::property_tree;

namespace {

pt::ptree parse(const std::string& xml) {
  std::istringstream in(xml);
  pt::ptree t;
  pt::read_xml(in, t);
  return t.get_child("domain");
}

std::vector<pt::ptree> children(const pt::ptree& t, const std::string& name) {
  std::vector<pt::ptree> out;
  for (auto& [k, v] : t)
    if (k == name) out.push_back(v);
  return out;
}

const LibvirtOwner kOwner{"0b5c6f3e-1111-2222-3333-444455556666", 4242, 987654};

}  // namespace

TEST_CASE("libvirt domain XML: direct kernel boot, the two agent ports, console, panic device, TCG machine") {
  VmSpec spec;
  spec.kernel = "/k/bzImage";
  spec.initrd = "/i/initramfs.cpio";
  spec.memory_mb = 384;
  spec.cpus = 2;
  spec.extra_cmdline = "panic_on_warn=1";
  StagedFiles files{"/staged/bzImage", "/staged/initramfs.cpio", {}};
  auto xml = domain_xml(spec, "faultbox-x-1-1", kOwner, files);
  REQUIRE(xml.ok());
  auto d = parse(*xml);
  CHECK(d.get<std::string>("<xmlattr>.type") == "qemu");
  CHECK(d.get<std::string>("name") == "faultbox-x-1-1");
  CHECK(d.get<int>("memory") == 384);
  CHECK(d.get<std::string>("memory.<xmlattr>.unit") == "MiB");
  CHECK(d.get<int>("vcpu") == 2);
  CHECK(d.get<std::string>("os.type.<xmlattr>.machine") == "pc");
  CHECK(d.get<std::string>("os.kernel") == "/staged/bzImage");
  CHECK(d.get<std::string>("os.initrd") == "/staged/initramfs.cpio");
  CHECK(d.get<std::string>("os.cmdline") == guest_kernel_cmdline(spec));
  CHECK(d.count("features") == 1);
  CHECK(d.get_child("features").count("acpi") == 1);
  CHECK(d.get<std::string>("cpu.<xmlattr>.mode") == "maximum");
  for (const char* on : {"on_poweroff", "on_reboot", "on_crash"}) CHECK(d.get<std::string>(on) == "destroy");
  auto dev = d.get_child("devices");
  CHECK(dev.get<std::string>("memballoon.<xmlattr>.model") == "none");
  CHECK(dev.get<std::string>("serial.<xmlattr>.type") == "pty");
  CHECK(dev.get<std::string>("console.target.<xmlattr>.type") == "serial");
  CHECK(dev.get<std::string>("panic.<xmlattr>.model") == "isa");
  CHECK(dev.get<std::string>("panic.address.<xmlattr>.iobase") == "0x505");
  // and pvpanic-pci, which is what the faultbox kernel (no ACPI) reports panics through
  std::vector<std::string> qemu_args;
  for (auto& a : children(d.get_child("qemu:commandline"), "qemu:arg")) qemu_args.push_back(a.get<std::string>("<xmlattr>.value"));
  CHECK(qemu_args == std::vector<std::string>{"-device", "pvpanic-pci,bus=pci.0,addr=0x1f"});
  std::vector<std::string> ports;
  for (auto& c : children(dev, "channel")) {
    CHECK(c.get<std::string>("<xmlattr>.type") == "unix");
    CHECK(c.get<std::string>("source.<xmlattr>.mode") == "bind");
    CHECK(c.get<std::string>("target.<xmlattr>.type") == "virtio");
    ports.push_back(c.get<std::string>("target.<xmlattr>.name"));
  }
  CHECK(ports == std::vector<std::string>{proto::kControlPortName, proto::kTracePortName});
  CHECK(children(dev, "disk").empty());
  // The owner record, read back the way orphan cleanup reads it.
  auto meta = d.get_child("metadata");
  REQUIRE(meta.count("fb:owner") == 1);
  CHECK(meta.get<std::string>("fb:owner.<xmlattr>.xmlns:fb") == kOwnerXmlns);
  std::ostringstream owner_xml;
  pt::write_xml(owner_xml, meta);
  auto back = parse_owner_metadata(owner_xml.str());
  REQUIRE(back);
  CHECK(back->pid == kOwner.pid);
  CHECK(back->start_ticks == kOwner.start_ticks);
  CHECK(back->boot_id == kOwner.boot_id);
}

TEST_CASE("libvirt domain XML: KVM gets a kvm domain with the host CPU, and a disk root no initrd") {
  VmSpec spec;
  spec.kernel = "/k/bzImage";
  spec.accel = Accel::Kvm;
  spec.disk_root = true;
  spec.disks.push_back({"/o/root.qcow2", "qcow2", proto::kRootDiskSerial, false, DiskBus::VirtioBlk});
  auto d = parse(*domain_xml(spec, "n", kOwner, {"/k/bzImage", "", {"/o/root.qcow2"}}));
  CHECK(d.get<std::string>("<xmlattr>.type") == "kvm");
  CHECK(d.get<std::string>("cpu.<xmlattr>.mode") == "host-passthrough");
  CHECK(d.get_child("os").count("initrd") == 0);
  CHECK_THAT(d.get<std::string>("os.cmdline"), Catch::Contains("root=/dev/vda"));
}

TEST_CASE("libvirt domain XML: every disk bus, format, serial and read-only, in the qemu backend's slots") {
  VmSpec spec;
  spec.kernel = "/k";
  spec.disks = {{"/d/a.qcow2", "qcow2", "root-a", false, DiskBus::VirtioBlk},
                {"/d/b.raw", "raw", "scsi-b", true, DiskBus::VirtioScsi},
                {"/d/c.qcow2", "qcow2", "ide-c", false, DiskBus::Ide},
                {"/d/d.qcow2", "qcow2", "ide-d", false, DiskBus::Ide},
                {"/d/e.qcow2", "qcow2", "ide-e", false, DiskBus::Ide},
                {"/d/f.qcow2", "qcow2", "scsi-f", false, DiskBus::VirtioScsi},
                {"/d/g&'<.raw", "raw", "", false, DiskBus::VirtioBlk}};
  StagedFiles files{"/k", "", {}};
  for (auto& disk : spec.disks) files.disks.push_back("/staged" + disk.file.string());
  auto xml = domain_xml(spec, "n", kOwner, files);
  REQUIRE(xml.ok());
  auto dev = parse(*xml).get_child("devices");
  auto disks = children(dev, "disk");
  REQUIRE(disks.size() == 7);
  struct Want {
    const char *dev, *bus, *serial, *format;
    bool ro;
    int ide_bus, unit;  // -1: no drive address
  };
  Want want[] = {{"vda", "virtio", "root-a", "qcow2", false, -1, -1}, {"sda", "scsi", "scsi-b", "raw", true, 0, 0},
                 {"hda", "ide", "ide-c", "qcow2", false, 0, 0},       {"hdb", "ide", "ide-d", "qcow2", false, 0, 1},
                 {"hdc", "ide", "ide-e", "qcow2", false, 1, 0},       {"sdb", "scsi", "scsi-f", "qcow2", false, 0, 1},
                 {"vdb", "virtio", "", "raw", false, -1, -1}};
  for (std::size_t i = 0; i < disks.size(); ++i) {
    INFO("disk " << i);
    auto& d = disks[i];
    CHECK(d.get<std::string>("source.<xmlattr>.file") == files.disks[i]);
    CHECK(d.get<std::string>("target.<xmlattr>.dev") == want[i].dev);
    CHECK(d.get<std::string>("target.<xmlattr>.bus") == want[i].bus);
    CHECK(d.get<std::string>("driver.<xmlattr>.type") == want[i].format);
    CHECK(d.get<std::string>("serial", "") == want[i].serial);
    CHECK(d.count("readonly") == (want[i].ro ? 1u : 0u));
    if (want[i].ide_bus >= 0) {
      CHECK(d.get<int>("address.<xmlattr>.bus") == want[i].ide_bus);
      CHECK(d.get<int>("address.<xmlattr>.unit") == want[i].unit);
    } else {
      CHECK(d.count("address") == 0);
    }
  }
  // One virtio-scsi controller for both SCSI disks.
  int scsi = 0;
  for (auto& c : children(dev, "controller"))
    if (c.get<std::string>("<xmlattr>.type") == "scsi") {
      ++scsi;
      CHECK(c.get<std::string>("<xmlattr>.model") == "virtio-scsi");
    }
  CHECK(scsi == 1);
}

TEST_CASE("libvirt domain XML: a fifth IDE disk is refused, as the qemu backend refuses it") {
  VmSpec spec;
  spec.kernel = "/k";
  StagedFiles files{"/k", "", {}};
  for (int i = 0; i < 5; ++i) {
    spec.disks.push_back({"/d/" + std::to_string(i), "raw", "", false, DiskBus::Ide});
    files.disks.push_back("/d/" + std::to_string(i));
  }
  auto xml = domain_xml(spec, "n", kOwner, files);
  REQUIRE(!xml.ok());
  CHECK(xml.error().kind == ErrorKind::Usage);
  CHECK_THAT(xml.error().message, Catch::Contains("room for 4 IDE disks"));
}

TEST_CASE("libvirt owner records: what libvirt gives back parses, damaged ones do not") {
  // virDomainGetMetadata re-serialises the element with its own prefix and quotes.
  auto o = parse_owner_metadata("<owner xmlns=\"urn:faultbox:owner:1\" pid=\"77\" start_ticks=\"12\" boot_id=\"b-1\"/>\n");
  REQUIRE(o);
  CHECK(o->pid == 77);
  CHECK(o->start_ticks == 12);
  CHECK(o->boot_id == "b-1");
  CHECK(!parse_owner_metadata("<owner pid='77' boot_id='b'/>"));
  CHECK(!parse_owner_metadata("<owner pid='x77' start_ticks='1' boot_id='b'/>"));
  CHECK(!parse_owner_metadata("<owner pid='-3' start_ticks='1' boot_id='b'/>"));
  CHECK(!parse_owner_metadata("<owner pid='3' start_ticks='1' boot_id=''/>"));
}

TEST_CASE("libvirt domain names say what the VM is for and stay within [A-Za-z0-9._-]") {
  CHECK(domain_name("failslab-one-task", 123, 1) == "faultbox-failslab-one-task-123-1");
  CHECK(domain_name("a b/c", 5, 2) == "faultbox-a-b-c-5-2");
  CHECK(domain_name("", 5, 2) == "faultbox-vm-5-2");
  CHECK(domain_name("///", 5, 2) == "faultbox-vm-5-2");
  CHECK(domain_name(std::string(100, 'x'), 5, 2) == "faultbox-" + std::string(40, 'x') + "-5-2");
}

TEST_CASE("libvirt sysrq keys are Linux input keycodes") {
  CHECK(linux_keycode('9') == 10u);
  CHECK(linux_keycode('0') == 11u);
  CHECK(linux_keycode('w') == 17u);
  CHECK(linux_keycode('t') == 20u);
  CHECK(linux_keycode('c') == 46u);
  CHECK(linux_keycode('m') == 50u);
  CHECK(!linux_keycode('W'));
  CHECK(!linux_keycode('?'));
}

TEST_CASE("libvirt URIs: a transport or a host part is a remote host, whose files go through the pool") {
  for (const char* remote : {"qemu+ssh://root@127.0.0.1:2222/system?socket=/s&keyfile=/k", "qemu+tcp://h/system",
                             "qemu+tls://host.example/system", "qemu://host/system", "qemu+libssh2://u@h/system"}) {
    INFO(remote);
    CHECK(libvirt_uri_is_remote(remote));
  }
  for (const char* local : {"", "qemu:///system", "qemu:///session", "qemu:///system?socket=/tmp/fb-lvd-x/sock/libvirt-sock",
                            "qemu+unix:///system?socket=/s", "test:///default"}) {
    INFO(local);
    CHECK_FALSE(libvirt_uri_is_remote(local));
  }
}
