#pragma once
// Scenario disks in the guest, found by serial whatever the bus: virtio-blk shows it in
// /sys/block/vdX/serial, a SCSI disk (virtio-scsi's scsi-hd, an ATA disk through libata's SCSI
// translation) as the unit serial number of VPD page 0x80 in /sys/block/sdX/device/vpd_pg80.
// The one place that maps "disk:NAME[/N]" and FAULTBOX_DISK_<NAME> to devices.
#include "common/result.h"

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fb::agent {

// A scenario disk as the host announced it ("faultbox.disk=NAME:SERIAL" on the command line).
struct NamedDisk {
  std::string name;
  std::string serial;
};

// Every faultbox.disk=NAME:SERIAL word of a kernel command line, in order; malformed words are skipped.
std::vector<NamedDisk> parse_disk_params(const std::string& cmdline);

// faultbox.disk_wait_ms=N of a kernel command line, or fallback when absent or malformed.
std::chrono::milliseconds parse_disk_wait(const std::string& cmdline, std::chrono::milliseconds fallback);

// The disks names resolve through. With none (the agent on the host, or a VM without scenario
// disks) a name is its own serial.
void set_named_disks(std::vector<NamedDisk> disks);
const std::vector<NamedDisk>& named_disks();

// The serial in a raw VPD page 0x80 (4 header bytes, then PAGE LENGTH bytes of serial), without
// the space or NUL padding ATA and many SCSI targets add; "" when it is not such a page.
std::string serial_from_vpd_pg80(std::string_view page);

// The serial of whole disk DEV under SYSFS/block: virtio-blk's `serial`, else VPD page 0x80;
// "" when it has neither.
std::string disk_serial(const std::string& sysfs, const std::string& dev);

// The whole disk ("vdb", "sdc") whose serial is SERIAL, "" when none has it. The root disk
// (serial proto::kRootDiskSerial) is never found.
std::string find_disk_by_serial(const std::string& sysfs, const std::string& serial);

// Waits up to timeout for every named disk to appear (SCSI and ATA disks are probed after their
// controller); returns the names still missing.
std::vector<std::string> wait_for_named_disks(const std::string& sysfs, std::chrono::milliseconds timeout);

// The sysfs directory of "disk:NAME" or "disk:NAME/N" (partition N, whatever the kernel calls
// it: vdb1, sdc1), or why not.
Result<std::string> disk_target_dir(const std::string& sysfs, const std::string& target);

// "FAULTBOX_DISK_<NAME>=/dev/X" for each named disk present (NAME upper-cased, other characters
// '_'); with no named disks, one per disk with a serial, named after the serial.
std::vector<std::string> disk_env(const std::string& sysfs);

// udev-style /dev/disk/by-id names (the guest has no udev) for every disk with a serial and its
// partitions: (link name, device) as ("virtio-data", "vdb"), ("scsi-fast-part2", "sda2"),
// ("ata-old", "sdb"). The prefix is the bus as udev's would be; udev also puts vendor and model
// into scsi and ata names, which these leave out so a name follows from the serial alone.
std::vector<std::pair<std::string, std::string>> disk_by_id_links(const std::string& sysfs);

}  // namespace fb::agent
