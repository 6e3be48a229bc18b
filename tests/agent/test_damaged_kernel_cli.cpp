// `kernel path` and `doctor` on a damaged cached kernel: a fake cache (FAULTBOX_CACHE_DIR) with a
// small bzImage laid out like a real one, never the user's cache. No VM is started.
#include "common/files.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/kernel_builder.h"
#include "tests/agent/fake_kernel_cache.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

using namespace fb;
using namespace fb::test;
namespace fs = std::filesystem;

namespace {

std::string faultbox() { return FAULTBOX_CLI_BIN; }


}  // namespace

TEST_CASE("kernel path names a damaged cached kernel, why, and the command that rebuilds it (exit 5)") {
  ScratchDir d;
  REQUIRE(write_file_atomic(d.path() / "linux.tar.xz", "not really a tarball").ok());
  fs::create_directories(d.path() / "kconfigs");
  REQUIRE(write_file_atomic(d.path() / "kconfigs/base.config", "CONFIG_PRINTK=y\n").ok());
  KernelBuildOptions opts;
  opts.source = d.path() / "linux.tar.xz";
  opts.fragment_dir = d.path() / "kconfigs";
  std::string bz = fake_bzimage();
  auto entry = publish_fake_kernel(d.path() / "cache", opts, bz);
  RunOptions ro;
  ro.env["FAULTBOX_CACHE_DIR"] = (d.path() / "cache").string();
  ro.timeout = std::chrono::seconds(30);
  std::vector<std::string> path_cmd = {faultbox(), "kernel", "path", "--source", opts.source.string(),
                                       "--fragment-dir", opts.fragment_dir.string()};
  std::string rebuild = "rebuild it: faultbox kernel build --source " + opts.source.string() + " --fragment-dir " +
                        opts.fragment_dir.string() + "\n";

  auto sound = run(path_cmd, ro);
  CHECK(sound.status.code == 0);
  CHECK(sound.out == (entry / "bzImage").string() + "\n");

  SECTION("bzImage cut to half") {
    REQUIRE(write_file_atomic(entry / "bzImage", bz.substr(0, bz.size() / 2)).ok());
    auto r = run(path_cmd, ro);
    CHECK(r.status.code == 5);
    CHECK(r.out == "");
    CHECK(r.err == fmt::format("faultbox: kernel: cached kernel {} is damaged: bzImage is {} bytes, meta.json recorded "
                               "{}; {}", entry.string(), bz.size() / 2, bz.size(), rebuild));
  }
  SECTION("meta.json empty") {
    REQUIRE(write_file_atomic(entry / "meta.json", "").ok());
    auto r = run(path_cmd, ro);
    CHECK(r.status.code == 5);
    CHECK(r.err == fmt::format("faultbox: kernel: cached kernel {} is damaged: meta.json is empty; {}", entry.string(),
                               rebuild));
  }
}

TEST_CASE("doctor says the cached kernel is damaged and counts it as a problem") {
  ScratchDir d;
  REQUIRE(write_file_atomic(d.path() / "linux.tar.xz", "not really a tarball").ok());
  fs::create_directories(d.path() / "kconfigs");
  REQUIRE(write_file_atomic(d.path() / "kconfigs/base.config", "CONFIG_PRINTK=y\n").ok());
  KernelBuildOptions opts;
  opts.source = d.path() / "linux.tar.xz";     // doctor's defaults, through FAULTBOX_KERNEL_SOURCE
  opts.fragment_dir = d.path() / "kconfigs";  // and FAULTBOX_KCONFIG_DIR
  std::string bz = fake_bzimage();
  auto entry = publish_fake_kernel(d.path() / "cache", opts, bz);
  REQUIRE(write_file_atomic(entry / "bzImage", "").ok());
  RunOptions ro;
  ro.env["FAULTBOX_CACHE_DIR"] = (d.path() / "cache").string();
  ro.env["FAULTBOX_KERNEL_SOURCE"] = opts.source.string();
  ro.env["FAULTBOX_KCONFIG_DIR"] = opts.fragment_dir.string();
  ro.env["XDG_RUNTIME_DIR"] = (d.path() / "rt").string();
  ro.timeout = std::chrono::seconds(60);
  auto r = run({faultbox(), "doctor", "--no-guestfs"}, ro);
  INFO(r.out << r.err);
  CHECK(r.status.code == 5);
  CHECK_THAT(r.out, Catch::Contains(fmt::format("kernel:  DAMAGED: {}: bzImage is 0 bytes, meta.json recorded {}; "
                                                "rebuild it: faultbox kernel build\n", entry.string(), bz.size())));
  CHECK_THAT(r.out, !Catch::Contains("accel:   tcg: kvm"));  // no probe boot of a damaged kernel
}
