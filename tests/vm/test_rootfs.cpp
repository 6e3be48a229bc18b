// The disk root ([vm] root = "disk", --root disk): an ext4 root made through libguestfs from the
// boot image's content, cached, booted through a per-run overlay.
#include "common/files.h"
#include "orchestrator/core/cache.h"
#include "tests/vm/vm_support.h"

#include <nlohmann/json.hpp>

#include <csignal>
#include <random>
#include <set>

using namespace fb;
using namespace fb::test;
namespace fs = std::filesystem;

static std::string nonce() { return std::to_string(std::random_device{}()) + std::to_string(getpid()); }

TEST_CASE("rootfs: the example writes 300 MiB to / of a 128 MiB guest and failslab still fires", "[rootfs]") {
  ScratchDir rt;
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_in(rt, "run", {source("examples/rootfs-disk-big-workload.toml"), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  CHECK_THAT(r.out, Catch::Contains("verdict: pass"));
  CHECK_THAT(r.err, Catch::Contains("128 MiB, disk root)"));
  auto j = nlohmann::json::parse(*read_file(json_path));
  REQUIRE(j["faults"].size() == 1);
  CHECK(j["faults"][0]["fired"].get<int>() >= 1);
  std::map<std::string, nlohmann::json> steps;
  for (auto& s : j["steps"]) steps[s["name"]] = s;
  CHECK_THAT(steps["marked"]["stderr"].get<std::string>(), Catch::Contains("Cannot allocate memory"));
  CHECK_THAT(steps["write"]["stdout"].get<std::string>(), Catch::Contains("314572800"));
  require_no_leftovers(rt);
  require_no_partial_cache_entries("roots");
}

TEST_CASE("rootfs: the same 300 MiB write on the initramfs root of a 128 MiB guest runs out of space", "[rootfs]") {
  // The control experiment: what the disk root is for. Same guest, same write, RAM-backed root.
  ScratchDir rt;
  auto scenario = rt.path() / "initramfs.toml";
  REQUIRE(write_file_atomic(scenario, R"(name = "300 MiB on an initramfs"
[vm]
memory = 128
[[step]]
name = "write"
run = "grep ' / ' /proc/mounts; dd if=/dev/zero of=/big bs=1M count=300"
expect_exit = 1
expect_stderr = ["No space left on device"]
timeout = "5m"
)"));
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_in(rt, "run", {scenario.string(), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);  // the expectations (exit 1, ENOSPC) held
  auto j = nlohmann::json::parse(*read_file(json_path));
  CHECK_THAT(j["steps"][0]["stdout"].get<std::string>(), Catch::StartsWith("rootfs / "));
  require_no_leftovers(rt);
}

TEST_CASE("rootfs: a disk root is made once and reused, and a run that writes to / leaves the cached image unchanged",
          "[rootfs]") {
  ScratchDir rt;
  // An included file with a nonce makes this root new to the cache, so the first run is cold.
  // numfmt is not a busybox
  // applet: it comes with its library closure (libc, ld.so) onto the ext4 root.
  auto marker = rt.path() / ("nonce-" + nonce());
  REQUIRE(write_file_atomic(marker, "x"));
  auto scenario = rt.path() / "cached-root.toml";
  // Each run must start from the image as made: /written from the run before must not be there.
  REQUIRE(write_file_atomic(scenario, R"(name = "cached disk root"
[vm]
root = "disk"
include = [")" + marker.string() + R"(", "/usr/bin/numfmt"]
[[step]]
name = "write"
run = "numfmt --to=iec 1048576 && test ! -e /written && echo fresh && dd if=/dev/urandom of=/written bs=1M count=8 && rm -f /bin/ls && sync"
expect_exit = 0
expect_stdout = ["1.0M", "fresh"]
)"));
  auto before = cache_entries("roots");
  auto cold = faultbox_in(rt, "run", {scenario.string()});
  INFO(cold.out << cold.err);
  REQUIRE(cold.status.code == 0);
  CHECK_THAT(cold.err, Catch::Contains("root: disk image made in"));
  std::vector<std::string> added;
  for (auto& e : cache_entries("roots"))
    if (!before.count(e)) added.push_back(e);
  REQUIRE(added.size() == 1);
  auto cached = cache_root() / "roots" / added[0];
  CHECK(fs::file_size(cached) == 256u << 20);  // the default size for a small root
  auto sha_before = sha256_file(cached);
  REQUIRE(sha_before.ok());

  auto warm = faultbox_in(rt, "run", {scenario.string()});
  INFO(warm.out << warm.err);
  CHECK(warm.status.code == 0);  // "fresh" again: the first run's writes went to its overlay only
  CHECK_THAT(warm.err, Catch::Contains("root: disk image reused in"));
  CHECK_THAT(warm.err, Catch::Contains(", disk root)"));
  CHECK(*sha256_file(cached) == *sha_before);
  std::error_code ec;
  fs::remove(cached, ec);
  require_no_leftovers(rt);
  require_no_partial_cache_entries("roots");
}

TEST_CASE("rootfs: scenario disks keep their names and faults beside the disk root", "[rootfs]") {
  ScratchDir rt;
  auto scenario = rt.path() / "beside.toml";
  REQUIRE(write_file_atomic(scenario, R"(name = "scenario disk beside the disk root"
[vm]
root = "disk"
[[disk]]
name = "data"
size = "16M"
[[fault]]
type = "fail_make_request"
target = "disk:data"
steps = ["fail-data"]
[[step]]
name = "names"
run = "echo root=$FAULTBOX_DISK_FAULTBOX_ROOT data=$FAULTBOX_DISK_DATA"
expect_stdout = ["root=/dev/vda data=/dev/vdb"]
[[step]]
name = "fail-data"
run = "dd if=/dev/zero of=$FAULTBOX_DISK_DATA bs=4096 count=1 oflag=direct"
expect_exit = 1
[[step]]
name = "root-unharmed"
run = "echo ok > /after && sync && cat /after"
expect_exit = 0
expect_stdout = ["ok"]
[expect]
injected_min = 1
)"));
  auto json_path = (rt.path() / "report.json").string();
  auto r = faultbox_in(rt, "run", {scenario.string(), "--json", json_path});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = nlohmann::json::parse(*read_file(json_path));
  CHECK(j["faults"][0]["fired"].get<int>() >= 1);
  require_no_leftovers(rt);
}

TEST_CASE("rootfs: faultbox exec --root disk boots from the ext4 root", "[rootfs]") {
  ScratchDir rt;
  auto r = faultbox_exec(rt, {"--root", "disk", "--", "sh", "-c", "grep ' / ' /proc/mounts"});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  CHECK_THAT(r.out, Catch::StartsWith("/dev/root / ext4 rw"));
  require_no_leftovers(rt);
}

TEST_CASE("rootfs: a bad root, a too small root_size or --initrd with a disk root is a usage error that leaves nothing",
          "[rootfs]") {
  ScratchDir rt;
  auto before = cache_entries("roots");
  auto scenario = rt.path() / "small.toml";
  REQUIRE(write_file_atomic(scenario, "name = \"small\"\n[vm]\nroot = \"disk\"\nroot_size = \"16M\"\n"
                                      "[[step]]\nname = \"s\"\nrun = \"true\"\n"));
  auto r = faultbox_in(rt, "run", {scenario.string()});
  INFO(r.out << r.err);
  CHECK(r.status.code == 2);
  CHECK_THAT(r.out + r.err, Catch::Contains("small.toml:4:13: [vm] root_size 16 MiB is too small"));

  auto bad = rt.path() / "bad.toml";
  REQUIRE(write_file_atomic(bad, "name = \"bad\"\n[vm]\nroot = \"tmpfs\"\n[[step]]\nname = \"s\"\nrun = \"true\"\n"));
  auto b = faultbox_in(rt, "run", {bad.string()});
  INFO(b.out << b.err);
  CHECK(b.status.code == 2);
  CHECK_THAT(b.out + b.err, Catch::Contains("bad.toml:3:8: key 'root' in [vm] must be initramfs | disk"));

  auto e = faultbox_exec(rt, {"--root", "disk", "--initrd", "/nonexistent.cpio", "--", "true"});
  INFO(e.out << e.err);
  CHECK(e.status.code == 2);
  CHECK_THAT(e.err, Catch::Contains("--initrd and a disk root exclude each other"));
  auto s = faultbox_exec(rt, {"--root-size", "1G", "--", "true"});
  INFO(s.out << s.err);
  CHECK(s.status.code == 2);
  CHECK_THAT(s.err, Catch::Contains("--root-size is for a disk root"));
  CHECK(cache_entries("roots") == before);
  require_no_leftovers(rt);
}

TEST_CASE("rootfs: SIGINT while the disk root is being made leaves no appliance, no overlay and no partial image",
          "[rootfs]") {
  ScratchDir rt;
  auto marker = rt.path() / ("nonce-" + nonce());
  REQUIRE(write_file_atomic(marker, "x"));
  auto before = cache_entries("roots");
  RunOptions o;
  o.act_on_stderr = "starting the appliance (tcg) to make the root filesystem";
  o.act = [](pid_t pid) {
    sleep(3);  // the appliance is booting
    kill(pid, SIGINT);
  };
  auto r = faultbox_exec(rt, {"--root", "disk", "--include", marker.string(), "--", "true"}, o);
  INFO(r.out << r.err);
  CHECK(r.status.shell_code() == 128 + SIGINT);
  auto partial = (cache_root() / "roots" / ".partial-").string();
  std::vector<pid_t> left;
  for (int i = 0; i < 100; ++i) {
    left = processes_mentioning(partial);
    if (left.empty() && cache_entries("roots") == before) break;
    usleep(100000);
  }
  CHECK(left.empty());
  CHECK(cache_entries("roots") == before);
  require_no_leftovers(rt);
}
