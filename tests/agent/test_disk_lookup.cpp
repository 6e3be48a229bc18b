// The agent's disk lookup against a fake sysfs tree shaped like what the guest kernel shows for
// each bus: virtio-blk's `serial`, and VPD page 0x80 for virtio-scsi's scsi-hd and for an ATA
// disk behind libata (20 bytes, space-padded).
#include "common/files.h"
#include "guest-agent/disk_lookup.h"
#include "guest-agent/faults.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <thread>

using namespace fb;
using namespace fb::agent;
namespace fs = std::filesystem;

namespace {

std::string vpd_pg80(const std::string& serial, std::size_t padded_to = 0) {
  std::string body = serial;
  if (body.size() < padded_to) body.append(padded_to - body.size(), ' ');
  return std::string("\0\x80\0", 3) + static_cast<char>(body.size()) + body;
}

void put(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  REQUIRE(write_file_atomic(p, content));
}

// vda: the root disk; vdb: virtio-blk "data" (1 partition); sda: scsi-hd "fast" (2 partitions);
// sdb: ATA "old", padded; loop0: no serial at all.
struct FakeSysfs {
  test::ScratchDir dir;
  fs::path block() const { return dir.path() / "block"; }
  FakeSysfs() {
    put(block() / "vda/serial", "faultbox-root\n");
    put(block() / "vdb/serial", "data\n");
    put(block() / "vdb/vdb1/partition", "1\n");
    put(block() / "sda/device/vpd_pg80", vpd_pg80("fast"));
    put(block() / "sda/device/model", "QEMU HARDDISK   \n");
    put(block() / "sda/sda1/partition", "1\n");
    put(block() / "sda/sda2/partition", "2\n");
    put(block() / "sdb/device/vpd_pg80", vpd_pg80("old", 20));
    put(block() / "sdb/sdb1/partition", "1\n");
    put(block() / "loop0/size", "0\n");
    set_sysfs_root(dir.path().string());
  }
  ~FakeSysfs() {
    set_sysfs_root("/sys");
    set_named_disks({});
  }
  std::string root() const { return dir.path().string(); }
};

}  // namespace

TEST_CASE("VPD page 0x80: the serial without the padding, bounded by the page length") {
  CHECK(serial_from_vpd_pg80(vpd_pg80("fast")) == "fast");
  CHECK(serial_from_vpd_pg80(vpd_pg80("old", 20)) == "old");  // libata: ATA's 20 bytes, space-padded
  CHECK(serial_from_vpd_pg80(std::string("\0\x80\0\x04", 4) + "ab\0\0") == "ab");
  CHECK(serial_from_vpd_pg80(std::string("\0\x80\0\x02", 4) + "abcd") == "ab");  // the length rules
  CHECK(serial_from_vpd_pg80(std::string("\0\x80\0\x09", 4) + "abc") == "abc");  // short read: what is there
  CHECK(serial_from_vpd_pg80(std::string("\0\x83\0\x03", 4) + "abc").empty());    // another page
  CHECK(serial_from_vpd_pg80(std::string("\0\x80", 2)).empty());
  CHECK(serial_from_vpd_pg80("").empty());
}

TEST_CASE("the host's faultbox.disk=NAME:SERIAL words are read from the command line") {
  auto d = parse_disk_params("console=ttyS0 faultbox.disk=data:data faultbox.disk=fast:sn-7 faultbox.disk=bad "
                             "faultbox.disk=:x faultbox.disk=y: faultbox.probe=1");
  REQUIRE(d.size() == 2);
  CHECK(d[0].name == "data");
  CHECK(d[0].serial == "data");
  CHECK(d[1].name == "fast");
  CHECK(d[1].serial == "sn-7");
  CHECK(parse_disk_params("console=ttyS0").empty());
}

TEST_CASE("each bus's serial finds its disk, and the root disk is never a scenario disk") {
  FakeSysfs sys;
  CHECK(disk_serial(sys.root(), "vdb") == "data");
  CHECK(disk_serial(sys.root(), "sda") == "fast");
  CHECK(disk_serial(sys.root(), "sdb") == "old");
  CHECK(disk_serial(sys.root(), "loop0").empty());
  CHECK(find_disk_by_serial(sys.root(), "fast") == "sda");
  CHECK(find_disk_by_serial(sys.root(), "old") == "sdb");
  CHECK(find_disk_by_serial(sys.root(), "faultbox-root").empty());
  CHECK(find_disk_by_serial(sys.root(), "nothing").empty());
}

TEST_CASE("FAULTBOX_DISK_<NAME> names the announced disks whatever their bus and serial") {
  FakeSysfs sys;
  set_named_disks({{"data", "data"}, {"fast-one", "fast"}, {"legacy", "old"}, {"gone", "missing"}});
  // The root disk is named as such (FAULTBOX_DISK_FAULTBOX_ROOT), never as a scenario disk.
  CHECK(disk_env(sys.root()) == std::vector<std::string>{"FAULTBOX_DISK_FAULTBOX_ROOT=/dev/vda",
                                                         "FAULTBOX_DISK_DATA=/dev/vdb", "FAULTBOX_DISK_FAST_ONE=/dev/sda",
                                                         "FAULTBOX_DISK_LEGACY=/dev/sdb"});
  // Nothing announced (the agent run by hand): every disk with a serial, named after it.
  set_named_disks({});
  CHECK(disk_env(sys.root()) == std::vector<std::string>{"FAULTBOX_DISK_FAULTBOX_ROOT=/dev/vda", "FAULTBOX_DISK_FAST=/dev/sda",
                                                         "FAULTBOX_DISK_OLD=/dev/sdb", "FAULTBOX_DISK_DATA=/dev/vdb"});
}

TEST_CASE("disk:NAME/N resolves through the serial to partition N on any bus, with reasons when it cannot") {
  FakeSysfs sys;
  set_named_disks({{"data", "data"}, {"fast-one", "fast"}, {"legacy", "old"}});
  // The directory, or "" with the reason in `err`.
  std::string err;
  auto resolve = [&](const std::string& target) {
    auto dir = resolve_disk_target(target);
    err = dir ? "" : dir.error().message;
    return dir ? *dir : std::string();
  };
  CHECK(resolve("disk:fast-one") == sys.root() + "/block/sda");
  CHECK(resolve("disk:fast-one/2") == sys.root() + "/block/sda/sda2");
  CHECK(resolve("disk:legacy/1") == sys.root() + "/block/sdb/sdb1");
  CHECK(resolve("disk:data/1") == sys.root() + "/block/vdb/vdb1");
  CHECK(resolve("disk:fast-one/3").empty());
  CHECK(err == "disk 'fast-one' (sda) has no partition 3");
  CHECK(resolve("disk:fast").empty());  // a serial is not a name once names are announced
  CHECK(err == "no disk named 'fast' was announced to the guest");
  set_named_disks({{"x", "nowhere"}});
  CHECK(resolve("disk:x").empty());
  CHECK_THAT(err, Catch::Contains("no disk with serial 'nowhere' in the guest"));
  CHECK(resolve("vdb").empty());
  CHECK_THAT(err, Catch::Contains("is not disk:NAME[/N]"));
}

TEST_CASE("the agent waits for an announced disk that shows up late, and gives up on one that never does") {
  FakeSysfs sys;
  set_named_disks({{"data", "data"}, {"late", "late-sn"}});
  std::thread prober([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    // (no REQUIRE off the test's thread: Catch2 assertions are not thread-safe)
    fs::create_directories(sys.block() / "sdc/device");
    (void)write_file_atomic(sys.block() / "sdc/device/vpd_pg80", vpd_pg80("late-sn"));
  });
  auto start = std::chrono::steady_clock::now();
  auto missing = wait_for_named_disks(sys.root(), std::chrono::seconds(5));
  auto waited = std::chrono::steady_clock::now() - start;
  prober.join();
  CHECK(missing.empty());
  CHECK(waited >= std::chrono::milliseconds(150));
  CHECK(waited < std::chrono::seconds(5));
  CHECK(find_disk_by_serial(sys.root(), "late-sn") == "sdc");

  set_named_disks({{"data", "data"}, {"never", "never-sn"}});
  start = std::chrono::steady_clock::now();
  missing = wait_for_named_disks(sys.root(), std::chrono::milliseconds(200));
  CHECK(missing == std::vector<std::string>{"never"});
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(200));
}

TEST_CASE("/dev/disk/by-id names follow each disk's bus and serial, partitions included") {
  FakeSysfs sys;
  put(sys.block() / "sda/device/vendor", "QEMU    \n");
  put(sys.block() / "sdb/device/vendor", "ATA     \n");
  auto links = disk_by_id_links(sys.root());
  std::map<std::string, std::string> by_name(links.begin(), links.end());
  CHECK(by_name.at("virtio-data") == "vdb");
  CHECK(by_name.at("virtio-data-part1") == "vdb1");
  CHECK(by_name.at("scsi-fast") == "sda");
  CHECK(by_name.at("scsi-fast-part2") == "sda2");
  CHECK(by_name.at("ata-old") == "sdb");  // the padding is not part of the name
  CHECK(by_name.at("ata-old-part1") == "sdb1");
  CHECK(by_name.at("virtio-faultbox-root") == "vda");
  CHECK(by_name.size() == 8);  // loop0 has no serial
}

TEST_CASE("the host sets how long the agent waits for disks, and a bad value keeps the default") {
  using std::chrono::milliseconds;
  CHECK(parse_disk_wait("console=ttyS0 faultbox.disk_wait_ms=20000 quiet", milliseconds(10000)) == milliseconds(20000));
  CHECK(parse_disk_wait("console=ttyS0", milliseconds(10000)) == milliseconds(10000));
  CHECK(parse_disk_wait("faultbox.disk_wait_ms=2s", milliseconds(10000)) == milliseconds(10000));
  CHECK(parse_disk_wait("faultbox.disk_wait_ms=", milliseconds(10000)) == milliseconds(10000));
}
