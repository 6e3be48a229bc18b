// The QEMU arguments that attach scenario disks, per bus, without booting anything.
#include "orchestrator/vm/qemu.h"

#include <catch2/catch.hpp>

using namespace fb;

static DiskSpec disk(const char* file, const char* serial, DiskBus bus) {
  DiskSpec d;
  d.file = file;
  d.format = "qcow2";
  d.serial = serial;
  d.bus = bus;
  return d;
}

TEST_CASE("virtio-blk disks: one drive and one virtio-blk-pci device each, with the serial") {
  auto a = qemu_disk_args({disk("/t/a.qcow2", "a", DiskBus::VirtioBlk), disk("/t/b.qcow2", "", DiskBus::VirtioBlk)});
  REQUIRE(a.ok());
  CHECK(*a == std::vector<std::string>{"-drive", "file=/t/a.qcow2,format=qcow2,if=none,id=disk0",
                                       "-device", "virtio-blk-pci,drive=disk0,serial=a",
                                       "-drive", "file=/t/b.qcow2,format=qcow2,if=none,id=disk1",
                                       "-device", "virtio-blk-pci,drive=disk1"});
}

TEST_CASE("virtio-scsi disks share one controller, each a scsi-hd with its serial") {
  auto a = qemu_disk_args({disk("/t/s1.qcow2", "s1", DiskBus::VirtioScsi), disk("/t/v.qcow2", "v", DiskBus::VirtioBlk),
                           disk("/t/s2.qcow2", "s2", DiskBus::VirtioScsi)});
  REQUIRE(a.ok());
  CHECK(*a == std::vector<std::string>{"-drive", "file=/t/s1.qcow2,format=qcow2,if=none,id=disk0",
                                       "-device", "virtio-scsi-pci,id=scsi0",
                                       "-device", "scsi-hd,bus=scsi0.0,drive=disk0,serial=s1",
                                       "-drive", "file=/t/v.qcow2,format=qcow2,if=none,id=disk1",
                                       "-device", "virtio-blk-pci,drive=disk1,serial=v",
                                       "-drive", "file=/t/s2.qcow2,format=qcow2,if=none,id=disk2",
                                       "-device", "scsi-hd,bus=scsi0.0,drive=disk2,serial=s2"});
  CHECK(std::count(a->begin(), a->end(), "virtio-scsi-pci,id=scsi0") == 1);
}

TEST_CASE("ide disks fill the pc machine's PIIX channels, master then slave, and a fifth is refused") {
  std::vector<DiskSpec> disks;
  for (const char* s : {"i0", "i1", "i2", "i3"}) disks.push_back(disk("/t/i.qcow2", s, DiskBus::Ide));
  disks[1].read_only = true;
  auto a = qemu_disk_args(disks);
  REQUIRE(a.ok());
  REQUIRE(a->size() == 16);
  CHECK((*a)[2 + 1] == "ide-hd,bus=ide.0,unit=0,drive=disk0,serial=i0");
  CHECK((*a)[4 + 1] == "file=/t/i.qcow2,format=qcow2,if=none,id=disk1,readonly=on");
  CHECK((*a)[6 + 1] == "ide-hd,bus=ide.0,unit=1,drive=disk1,serial=i1");
  CHECK((*a)[10 + 1] == "ide-hd,bus=ide.1,unit=0,drive=disk2,serial=i2");
  CHECK((*a)[14 + 1] == "ide-hd,bus=ide.1,unit=1,drive=disk3,serial=i3");
  disks.push_back(disk("/t/i4.qcow2", "i4", DiskBus::Ide));
  auto five = qemu_disk_args(disks);
  REQUIRE_FALSE(five.ok());
  CHECK_THAT(five.error().message, Catch::Contains("room for 4 IDE disks"));
}

TEST_CASE("the PIIX IDE driver is kept from probing unless a disk is on the ide bus") {
  CHECK(disk_kernel_params({}) == " initcall_blacklist=piix_init");
  CHECK(disk_kernel_params({disk("/t/a", "a", DiskBus::VirtioBlk), disk("/t/s", "s", DiskBus::VirtioScsi)}) ==
        " initcall_blacklist=piix_init");
  CHECK(disk_kernel_params({disk("/t/a", "a", DiskBus::VirtioBlk), disk("/t/i", "i", DiskBus::Ide)}).empty());
}

TEST_CASE("disk bus names are the scenario's spelling") {
  CHECK(disk_bus_named("virtio-blk") == DiskBus::VirtioBlk);
  CHECK(disk_bus_named("virtio-scsi") == DiskBus::VirtioScsi);
  CHECK(disk_bus_named("ide") == DiskBus::Ide);
  CHECK_FALSE(disk_bus_named("sata").has_value());
}
