// Scenario disks made, cached and inspected through libguestfs (real appliance, real VM).
#include "common/files.h"
#include "orchestrator/core/cache.h"
#include "tests/vm/vm_support.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <random>
#include <set>

using namespace fb;
using namespace fb::test;
namespace fs = std::filesystem;

TEST_CASE("disks: S2, partition 1 fails while partition 2 survives, and the inspection names what 1 lost",
          "[disks]") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_in(rt, "run", {source("examples/partition-fails-sibling-survives.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  CHECK_THAT(r.out, Catch::Contains("verdict: pass"));
  auto j = nlohmann::json::parse(*read_file(json_path));
  REQUIRE(j["disks"].size() == 1);
  auto& d = j["disks"][0];
  std::map<std::string, nlohmann::json> files;
  for (auto& f : d["files"]) files[f["location"]] = f;
  CHECK(files["2:/new.txt"]["verdict"] == "ok");
  CHECK(files["2:/keep/b.txt"]["verdict"] == "ok");
  // What partition 1 lost: the content the failed fsync was about.
  CHECK(files["1:/new.txt"]["verdict"] == "lost");
  CHECK(files["1:/new.txt"]["found"] != "f22b6e0eed060703402ac03fd1ba53d3e16ec8da7d846feae02001fbcbcebbc3");
  CHECK_THAT(r.out, Catch::Contains("lost: disk data: 1:/new.txt: the content written (f22b6e0eed060703...) did not survive"));
  CHECK(files["1:/keep/note.txt"]["verdict"] == "ok");  // copied in, checked unasked
  std::map<std::string, int> fsck;
  for (auto& f : d["fsck"]) fsck[f["filesystem"]] = f["status"];
  CHECK(fsck["2"] == 0);
  CHECK(fsck["1"] != 0);
  CHECK_THAT(r.out, Catch::Contains("fsck 1: errors found"));
  require_no_leftovers(rt);
  require_no_partial_cache_entries("disks");
}

TEST_CASE("disks: after dm-flakey drop_writes the inspection names exactly the file whose writes were dropped",
          "[disks]") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_in(rt, "run", {source("examples/dm-flakey-drop-writes-data-loss.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = nlohmann::json::parse(*read_file(json_path));
  CHECK(j["faults"][0]["fired"].get<int>() > 0);  // writes were dropped...
  CHECK(j["steps"][1]["exit_code"] == 0);          // ...while the step saw every write succeed
  REQUIRE(j["disks"].size() == 1);
  auto& d = j["disks"][0];
  // Exactly one loss, and it is the file written through the flakey device.
  REQUIRE(d["losses"].size() == 1);
  CHECK_THAT(d["losses"][0].get<std::string>(), Catch::Contains("1:/dropped.txt"));
  int lost = 0;
  for (auto& f : d["files"]) {
    if (f["verdict"] != "ok") ++lost;
    if (f["location"] == "1:/dropped.txt") CHECK(f["verdict"] == "lost");
  }
  CHECK(lost == 1);
  CHECK(d["fsck"][0]["status"] == 0);  // the filesystem itself is consistent: its writes were dropped too
  require_no_leftovers(rt);
  require_no_partial_cache_entries("disks");
}

TEST_CASE("disks: a populated disk is made once and reused from the cache, the VM writes only its overlay",
          "[disks]") {
  ScratchDir rt;
  // A nonce in the content makes this disk new to the cache, so the first run is cold.
  std::string nonce = std::to_string(std::random_device{}()) + std::to_string(getpid());
  auto scenario = rt.path() / "cached.toml";
  REQUIRE(write_file_atomic(scenario, R"(name = "cached disk"
[[disk]]
name = "c"
size = "16M"
fs = "ext4"
file_contents = { "/nonce" = ")" + nonce + R"(" }
[[step]]
name = "write"
run = "mkdir -p /mnt/c && mount -t ext4 $FAULTBOX_DISK_C /mnt/c && cat /mnt/c/nonce && echo changed > /mnt/c/nonce && umount /mnt/c"
expect_stdout = [")" + nonce + R"("]
expect_exit = 0
[expect.disk.c]
fsck_clean = true
files = { "/nonce" = "present" }
)"));
  auto before = cache_entries("disks");
  auto cold = faultbox_in(rt, "run", {scenario.string()});
  INFO(cold.out << cold.err);
  REQUIRE(cold.status.code == 0);
  CHECK_THAT(cold.err, Catch::Contains("disk c: made in"));
  // The run changed the file, and the inspection (of the overlay) says so.
  CHECK_THAT(cold.out, Catch::Contains("lost: disk c: /nonce changed since it was copied in"));
  auto after = cache_entries("disks");
  std::vector<std::string> added;
  for (auto& n : after)
    if (!before.count(n)) added.push_back(n);
  REQUIRE(added.size() == 1);
  auto cached = cache_root() / "disks" / added[0];
  auto sha_before = sha256_file(cached);
  REQUIRE(sha_before.ok());

  auto warm = faultbox_in(rt, "run", {scenario.string()});
  INFO(warm.out << warm.err);
  CHECK(warm.status.code == 0);  // the step saw the nonce again: the cached image was not written
  CHECK_THAT(warm.err, Catch::Contains("disk c: prepared image reused"));
  CHECK(*sha256_file(cached) == *sha_before);
  std::error_code ec;
  fs::remove(cached, ec);
  require_no_leftovers(rt);
  require_no_partial_cache_entries("disks");
}

TEST_CASE("disks: a base image is never modified by a run that writes to the disk", "[disks]") {
  ScratchDir rt;
  auto base = rt.path() / "base.raw";
  std::string content(8 << 20, '\0');
  for (std::size_t i = 0; i < content.size(); i += 4096) content[i] = static_cast<char>('a' + i / 4096 % 26);
  REQUIRE(write_file_atomic(base, content));
  auto sha_before = sha256_file(base);
  auto scenario = rt.path() / "base.toml";
  REQUIRE(write_file_atomic(scenario, R"(name = "writes over a base image"
[[disk]]
name = "b"
base = "base.raw"
[[step]]
name = "write"
run = "dd if=/dev/zero of=$FAULTBOX_DISK_B bs=4096 count=64 oflag=direct && dd if=$FAULTBOX_DISK_B bs=4096 count=1 iflag=direct | od -An -c | head -1"
expect_exit = 0
expect_stdout = ["\\0"]
)"));
  auto r = faultbox_in(rt, "run", {scenario.string()});
  INFO(r.out << r.err);
  CHECK(r.status.code == 0);
  CHECK(*sha256_file(base) == *sha_before);
  require_no_leftovers(rt);
}

TEST_CASE("disks: a corrupt base image is a usage error (exit 2) naming it, leaving nothing behind", "[disks]") {
  ScratchDir rt;
  // qcow2 magic and version, then garbage: qemu-img cannot open it.
  std::string bad = std::string("QFI\xfb\0\0\0\x03", 8) + std::string(4096, '\x7f');
  REQUIRE(write_file_atomic(rt.path() / "bad.qcow2", bad));
  REQUIRE(write_file_atomic(rt.path() / "bad.toml", R"(name = "corrupt base"
[[disk]]
name = "b"
base = "bad.qcow2"
[[step]]
name = "s"
run = "true"
)"));
  auto before = cache_entries("disks");
  auto r = faultbox_in(rt, "run", {(rt.path() / "bad.toml").string()});
  INFO(r.out << r.err);
  CHECK(r.status.code == 2);
  CHECK_THAT(r.out, Catch::Contains("bad.qcow2 is not a readable disk image"));
  CHECK_THAT(r.out, Catch::Contains("verdict: usage-error"));
  CHECK(cache_entries("disks") == before);
  require_no_leftovers(rt);
}

TEST_CASE("disks: an unknown fs type, or xfs on less than mkfs.xfs takes, is refused before anything is made (exit 2)",
          "[disks]") {
  ScratchDir rt;
  struct Case {
    const char* disk;  // the [[disk]] lines after name
    const char* want;
    const char* at;
  };
  for (auto c : {Case{"size = \"16M\"\nfs = \"xfs\"", "xfs needs at least 300M (mkfs.xfs refuses less), the disk has 16M", "fs.toml:5:6"},
                 Case{"size = \"16M\"\nfs = \"fat\"", "unknown fs 'fat': did you mean 'vfat'?", "fs.toml:5:6"},
                 Case{"size = \"16M\"\nfs = \"zfs\"", "unknown fs 'zfs'", "fs.toml:5:6"},
                 // A share in percent is only known when the disk is made, still before the appliance starts.
                 Case{"size = \"400M\"\npartitions = [\"100M\", \"50%\"]\nfs = [\"ext4\", \"xfs\"]",
                      "disk d: xfs on partition 2 needs at least 300M (mkfs.xfs refuses less); it gets 149M", "fs.toml:2:1"}}) {
    auto scenario = rt.path() / "fs.toml";
    REQUIRE(write_file_atomic(scenario, fmt::format("name = \"fs\"\n[[disk]]\nname = \"d\"\n{}\n"
                                                    "[[step]]\nname = \"s\"\nrun = \"true\"\n", c.disk)));
    auto before = cache_entries("disks");
    auto r = faultbox_in(rt, "run", {scenario.string()});
    INFO(r.out << r.err);
    CHECK(r.status.code == 2);
    CHECK_THAT(r.out + r.err, Catch::Contains(c.want));
    CHECK_THAT(r.out + r.err, Catch::Contains(c.at));
    CHECK_THAT(r.err, !Catch::Contains("starting the appliance"));
    CHECK(cache_entries("disks") == before);
  }
  require_no_leftovers(rt);
}

static void kill_while_making_disk(int sig) {
  ScratchDir rt;
  std::string nonce = std::to_string(std::random_device{}()) + std::to_string(getpid());
  auto scenario = rt.path() / "killed.toml";
  REQUIRE(write_file_atomic(scenario, "name = \"killed while the disk is made\"\n[[disk]]\nname = \"k\"\nsize = \"16M\"\n"
                                      "fs = \"ext4\"\nfile_contents = { \"/nonce\" = \"" + nonce + "\" }\n"
                                      "[[step]]\nname = \"s\"\nrun = \"true\"\n"));
  auto before = cache_entries("disks");
  RunOptions o;
  o.act_on_stderr = "starting the appliance (tcg) to make disk k";
  o.act = [sig](pid_t pid) {
    sleep(3);  // the appliance is booting
    kill(pid, sig);
  };
  auto r = faultbox_in(rt, "run", {scenario.string()}, o);
  INFO(r.out << r.err);
  CHECK(r.status.shell_code() == 128 + sig);
  // libguestfs's recovery process kills the appliance once faultbox is gone; the janitor
  // removes the half-made image.
  auto partial = (cache_root() / "disks" / ".partial-").string();
  std::vector<pid_t> left;
  for (int i = 0; i < 100; ++i) {
    left = processes_mentioning(partial);
    if (left.empty() && cache_entries("disks") == before) break;
    usleep(100000);
  }
  CHECK(left.empty());
  CHECK(cache_entries("disks") == before);
  require_no_leftovers(rt);
}

TEST_CASE("disks: SIGKILL while a disk is being made leaves no appliance and no partial image", "[disks]") {
  kill_while_making_disk(SIGKILL);
}
TEST_CASE("disks: SIGINT while a disk is being made leaves no appliance and no partial image", "[disks]") {
  kill_while_making_disk(SIGINT);
}

TEST_CASE("disks: SIGKILL during the post-run inspection leaves nothing of libguestfs in $TMPDIR", "[disks]") {
  ScratchDir rt;
  ScratchDir tmp;  // the run's $TMPDIR: where libguestfs puts its temp dir and appliance by default
  auto scenario = rt.path() / "inspected.toml";
  REQUIRE(write_file_atomic(scenario, "name = \"killed while the disk is inspected\"\n[[disk]]\nname = \"k\"\n"
                                      "size = \"16M\"\nfs = \"ext4\"\nfile_contents = { \"/kept\" = \"inspected\" }\n"
                                      "[[step]]\nname = \"s\"\nrun = \"true\"\n"
                                      "[expect.disk.k]\nfsck_clean = true\nfiles = { \"/kept\" = \"unchanged\" }\n"));
  RunOptions o;
  o.env["TMPDIR"] = tmp.path().string();
  o.act_on_stderr = "starting the appliance (tcg) to inspect disk k";
  o.act = [](pid_t pid) {
    sleep(3);  // the appliance is booting with the run's overlay attached
    kill(pid, SIGKILL);
  };
  auto r = faultbox_in(rt, "run", {scenario.string()}, o);
  INFO(r.out << r.err);
  CHECK(r.status.shell_code() == 128 + SIGKILL);
  // libguestfs's recovery process kills the appliance, the janitors remove the temp dirs.
  std::string entries;
  for (int i = 0; i < 100; ++i) {
    entries.clear();
    for (auto& e : std::filesystem::directory_iterator(tmp.path())) entries += e.path().filename().string() + " ";
    if (entries.empty() && processes_mentioning(tmp.path().string()).empty()) break;
    usleep(100000);
  }
  CHECK(entries == "");
  CHECK(processes_mentioning(tmp.path().string()).empty());
  require_no_leftovers(rt);
}

// The inspection's view of a run's disk: file location -> verdict.
static std::map<std::string, std::string> file_verdicts(const nlohmann::json& disk) {
  std::map<std::string, std::string> out;
  for (auto& f : disk["files"]) out[f["location"]] = f["verdict"];
  return out;
}

TEST_CASE("disks: after a kernel crash the inspection shows the fsynced file kept and the cached one lost",
          "[disks]") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_in(rt, "run", {source("tests/data/scenarios/vm/crash-after-writes.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);  // the crash was expected, and the disk is as expected
  CHECK_THAT(r.out, Catch::Contains("kernel BUG in lkdtm_BUG"));
  auto j = nlohmann::json::parse(*read_file(json_path));
  REQUIRE(j["disks"].size() == 1);
  auto files = file_verdicts(j["disks"][0]);
  CHECK(files["/synced.txt"] == "ok");
  CHECK(files["/unsynced.txt"] == "lost");
  CHECK(files["/old.txt"] == "ok");
  CHECK_THAT(r.out, Catch::Contains("lost: disk data: /unsynced.txt"));
  require_no_leftovers(rt);
}

TEST_CASE("disks: a run that ends as a hang still has its disk inspected", "[disks]") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_in(rt, "run", {source("tests/data/scenarios/vm/hang-after-writes.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 4);
  auto j = nlohmann::json::parse(*read_file(json_path));
  CHECK(j["verdict"] == "hang");
  REQUIRE(j["disks"].size() == 1);
  auto files = file_verdicts(j["disks"][0]);
  CHECK(files["/synced.txt"] == "ok");
  CHECK(files["/old.txt"] == "ok");
  CHECK(j["failures"].empty());
  require_no_leftovers(rt);
}

TEST_CASE("disks: two new disks are made in one appliance start and inspected in another", "[disks]") {
  ScratchDir rt;
  std::string nonce = std::to_string(std::random_device{}()) + std::to_string(getpid());
  auto scenario = rt.path() / "two.toml";
  REQUIRE(write_file_atomic(scenario, R"(name = "two disks"
[[disk]]
name = "a"
size = "16M"
fs = "ext4"
file_contents = { "/nonce" = "a)" + nonce + R"(" }
[[disk]]
name = "b"
size = "16M"
partitions = ["8M", "50%"]
fs = ["ext4", "none"]
file_contents = { "1:/nonce" = "b)" + nonce + R"(" }
[[step]]
name = "write"
run = "mkdir -p /mnt/b && mount -t ext4 ${FAULTBOX_DISK_B}1 /mnt/b && echo new > /mnt/b/new && umount /mnt/b"
expect_exit = 0
[expect.disk.a]
files = { "/nonce" = "unchanged" }
fsck_clean = true
[expect.disk.b]
files = { "1:/nonce" = "unchanged", "1:/new" = "present" }
fsck_clean = true
)"));
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_in(rt, "run", {scenario.string(), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto count = [&](const std::string& what) {
    std::size_t n = 0;
    for (auto pos = r.err.find(what); pos != std::string::npos; pos = r.err.find(what, pos + 1)) ++n;
    return n;
  };
  CHECK(count("starting the appliance") == 2);  // one to make both, one to inspect both
  CHECK_THAT(r.err, Catch::Contains("to make disks a, b"));
  CHECK_THAT(r.err, Catch::Contains("to inspect disks a, b"));
  CHECK_THAT(r.err, Catch::Contains("(with 1 other disk(s), one appliance)"));
  auto j = nlohmann::json::parse(*read_file(json_path));
  REQUIRE(j["disks"].size() == 2);
  CHECK(j["disks"][0]["disk"] == "a");
  CHECK(j["disks"][1]["disk"] == "b");
  CHECK(file_verdicts(j["disks"][1])["1:/new"] == "ok");
  require_no_leftovers(rt);
  require_no_partial_cache_entries("disks");
}

// An 8 MiB disk with one msdos partition from 1 MiB on, every 64-byte line numbered, as a
// compressed qcow2 whose cluster at 4 MiB has its compressed bytes overwritten: qemu-img check
// finds nothing wrong (it checks metadata), and reading that cluster fails with EIO.
static void make_qcow2_with_unreadable_cluster(const fs::path& dir, const fs::path& out, bool corrupt) {
  std::string raw;
  for (int i = 0; i < (8 << 20) / 64; ++i) raw += fmt::format("faultbox block {:012} {:-<35}\n", i, "");
  REQUIRE(raw.size() == 8u << 20);
  // MBR: partition 1, type 0x83, LBA 2048 .. end.
  auto put32 = [&](std::size_t at, std::uint32_t v) {
    for (int b = 0; b < 4; ++b) raw[at + b] = static_cast<char>(v >> (8 * b));
  };
  std::fill(raw.begin() + 446, raw.begin() + 512, '\0');
  raw[446 + 4] = static_cast<char>(0x83);
  put32(446 + 8, 2048);
  put32(446 + 12, (8 << 20) / 512 - 2048);
  raw[510] = 0x55;
  raw[511] = static_cast<char>(0xaa);
  auto raw_path = dir / (out.filename().string() + ".raw");
  REQUIRE(write_file_atomic(raw_path, raw));
  auto conv = run_capture({"qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", raw_path.string(), out.string()}, true);
  REQUIRE(conv);
  REQUIRE(conv->status.code == 0);
  fs::remove(raw_path);
  if (!corrupt) return;
  auto img = read_file(out);
  REQUIRE(img);
  std::string& q = *img;
  auto be = [&](std::size_t at, int n) {
    std::uint64_t v = 0;
    for (int b = 0; b < n; ++b) v = v << 8 | static_cast<unsigned char>(q[at + b]);
    return v;
  };
  auto cluster_bits = static_cast<unsigned>(be(20, 4));
  std::uint64_t l2 = be(be(40, 8), 8) & 0x00fffffffffffe00ULL;  // L1[0]
  std::uint64_t entry = be(l2 + 8 * ((4u << 20) >> cluster_bits), 8);
  REQUIRE((entry >> 62 & 1) == 1);  // compressed
  std::uint64_t data = entry & ((1ULL << (62 - (cluster_bits - 8))) - 1);
  for (int i = 8; i < 40; ++i) q[data + i] = static_cast<char>(0xff);
  REQUIRE(write_file_atomic(out, q));
}

TEST_CASE("disks: readable_blocks names the unreadable range and its partition, and passes a sound disk",
          "[disks]") {
  ScratchDir rt;
  make_qcow2_with_unreadable_cluster(rt.path(), rt.path() / "bad.qcow2", true);
  make_qcow2_with_unreadable_cluster(rt.path(), rt.path() / "good.qcow2", false);
  auto scenario = rt.path() / "readable.toml";
  REQUIRE(write_file_atomic(scenario, R"(name = "readable blocks"
[[disk]]
name = "good"
base = "good.qcow2"
[[disk]]
name = "bad"
base = "bad.qcow2"
[[step]]
name = "nothing"
run = "true"
[expect.disk.good]
readable_blocks = true
[expect.disk.bad]
readable_blocks = true
)"));
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_in(rt, "run", {scenario.string(), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 1);
  CHECK_THAT(r.out, Catch::Contains("readable: all 8388608 bytes"));
  CHECK_THAT(r.out, Catch::Contains("expectation failed: disk bad: 65536 of 8388608 bytes unreadable: 65536 bytes at "
                                    "4194304 (partition 1)"));
  auto j = nlohmann::json::parse(*read_file(json_path));
  REQUIRE(j["disks"].size() == 2);
  CHECK(j["disks"][0]["disk"] == "good");  // in [[disk]] order
  CHECK(j["disks"][0]["readable_blocks"]["unreadable"].empty());
  auto& bad = j["disks"][1]["readable_blocks"]["unreadable"];
  REQUIRE(bad.size() == 1);
  CHECK(bad[0]["offset"] == 4194304);
  CHECK(bad[0]["length"] == 65536);
  CHECK(bad[0]["partition"] == 1);
  require_no_leftovers(rt);
}

TEST_CASE("disks: vfat and xfs partitions are made, mounted by the guest and checked after the run", "[disks]") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_in(rt, "run", {source("tests/data/scenarios/vm/vfat-and-xfs.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = nlohmann::json::parse(*read_file(json_path));
  REQUIRE(j["disks"].size() == 1);
  auto& d = j["disks"][0];
  REQUIRE(d["fsck"].size() == 2);  // both filesystems checked: fsck.vfat, xfs_repair -n
  for (auto& f : d["fsck"]) CHECK(f["status"] == 0);
  auto files = file_verdicts(d);
  CHECK(files["1:/new.txt"] == "ok");
  CHECK(files["2:/new.txt"] == "ok");
  CHECK(files["2:/dir/old.txt"] == "ok");
  require_no_leftovers(rt);
}

// One report's disk by name, with its files by location.
static std::map<std::string, nlohmann::json> disk_files(const nlohmann::json& report, const std::string& disk) {
  std::map<std::string, nlohmann::json> files;
  for (auto& d : report["disks"])
    if (d["disk"] == disk)
      for (auto& f : d["files"]) files[f["location"]] = f;
  return files;
}

TEST_CASE("disks: on every bus a step finds its disk by name, a fault fails one partition of a non-virtio-blk disk, the rest work",
          "[disks]") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_in(rt, "run", {source("examples/disk-buses.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = nlohmann::json::parse(*read_file(json_path));
  // The names resolve to the bus's device kind although the serials are not the names.
  std::string found = j["steps"][0]["stdout"];
  CHECK_THAT(found, Catch::Contains("plain=/dev/vd"));
  CHECK_THAT(found, Catch::Contains("scsi=/dev/sd"));
  CHECK_THAT(found, Catch::Contains("ata=/dev/sd"));
  // disk:scsi/1, then disk:ata/1 failed I/O there, and only there.
  REQUIRE(j["faults"].size() == 2);
  CHECK(j["faults"][0]["name"] == "scsi-p1");
  CHECK(j["faults"][0]["fired"].get<int>() > 0);
  CHECK(j["faults"][1]["name"] == "ata-p1");
  CHECK(j["faults"][1]["fired"].get<int>() > 0);
  for (int failing : {1, 3}) CHECK(j["steps"][failing]["exit_code"] == 1);
  for (int working : {2, 4}) CHECK(j["steps"][working]["exit_code"] == 0);
  const std::string written = "f22b6e0eed060703402ac03fd1ba53d3e16ec8da7d846feae02001fbcbcebbc3";
  auto plain = disk_files(j, "plain");
  CHECK(plain["/new.txt"]["verdict"] == "ok");
  CHECK(plain["/new.txt"]["found"] == written);
  for (const char* name : {"scsi", "ata"}) {
    INFO("disk " << name);
    auto files = disk_files(j, name);
    CHECK(files["2:/new.txt"]["verdict"] == "ok");
    CHECK(files["2:/new.txt"]["found"] == written);
    CHECK(files["1:/new.txt"]["verdict"] == "lost");
    CHECK(files["1:/keep/a.txt"]["verdict"] == "ok");
  }
  require_no_leftovers(rt);
}

TEST_CASE("disks: a fault that makes ext4 panic (errors=panic), and the inspection shows what the panic lost",
          "[disks]") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_in(rt, "run", {source("examples/ext4-errors-panic-data-loss.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);  // crash expected, its words in the log, the disk as expected
  auto j = nlohmann::json::parse(*read_file(json_path));
  CHECK_THAT(j["crash"]["title"].get<std::string>(), Catch::Contains("panic forced after error"));
  REQUIRE(j["faults"].size() == 1);  // reported although the run ended in the crash
  CHECK(j["faults"][0]["fired"].get<int>() > 0);
  CHECK_THAT(j["faults"][0]["notes"][0].get<std::string>(), Catch::Contains("never disarmed") || Catch::Contains("before this fault was disarmed"));
  REQUIRE(j["disks"].size() == 1);
  auto files = file_verdicts(j["disks"][0]);
  CHECK(files["1:/before.txt"] == "ok");
  CHECK(files["1:/under.txt"] == "lost");
  CHECK(files["1:/old.txt"] == "ok");
  require_no_leftovers(rt);
}

TEST_CASE("disks: the appliance that makes and inspects disks is faultbox's, booting the faultbox kernel", "[disks]") {
  ScratchDir rt;
  auto path = faultbox_in(rt, "kernel", {"path"});
  REQUIRE(path.status.code == 0);
  fs::path bzimage = path.out.substr(0, path.out.find('\n'));
  std::string hash = bzimage.parent_path().filename().string();
  auto r = faultbox_in(rt, "doctor", {});
  INFO(r.out << r.err);
  // doctor starts it for real and names it.
  CHECK_THAT(r.out, Catch::Contains("guestfs: appliance started in "));
  CHECK_THAT(r.out, Catch::Contains("faultbox's appliance with the faultbox kernel"));
  CHECK_THAT(r.out, Catch::Contains("(" + hash + ")"));
  // The cache holds it as a fixed appliance whose kernel is that bzImage, byte for byte, and no
  // half-built one.
  int appliances = 0;
  for (auto& e : fs::directory_iterator(cache_root() / "guestfs")) {
    auto name = e.path().filename().string();
    CHECK(name.rfind(".appliance-build-", 0) != 0);
    if (name.rfind("appliance-", 0) != 0 || !e.is_directory()) continue;
    if (!fs::exists(e.path() / "README.fixed")) continue;
    auto readme = read_file(e.path() / "README.fixed");
    if (!readme || readme->find(hash) == std::string::npos) continue;
    ++appliances;
    CHECK(*read_file(e.path() / "kernel") == *read_file(bzimage));
  }
  CHECK(appliances == 1);
}
