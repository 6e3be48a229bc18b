// The kernel cache checks its entries before they are booted: a fake cache dir with a small
// bzImage laid out like a real one (setup header, declared length), never the user's cache.
#include "common/files.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/kernel_builder.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

using namespace fb;
namespace fs = std::filesystem;

namespace {

// A cache of its own (set_cache_root) and kernel build options that hash to one entry in it.
struct FakeKernelCache {
  test::ScratchDir d;
  KernelBuildOptions opts;
  fs::path entry;

  FakeKernelCache() {
    set_cache_root(d.path() / "cache");
    REQUIRE(write_file_atomic(d.path() / "linux.tar.xz", "not really a tarball").ok());
    fs::create_directories(d.path() / "kconfigs");
    REQUIRE(write_file_atomic(d.path() / "kconfigs/base.config", "CONFIG_PRINTK=y\n").ok());
    opts.source = d.path() / "linux.tar.xz";
    opts.fragment_dir = d.path() / "kconfigs";
    auto dir = cached_kernel_dir(opts);
    REQUIRE(dir.ok());
    entry = *dir;
    REQUIRE(entry.parent_path() == d.path() / "cache/kernels");
  }
  ~FakeKernelCache() { set_cache_root({}); }

  // An entry as the builder publishes it; with_digest = false: as builders before the check did.
  void publish(const std::string& bz, bool with_digest) {
    fs::create_directories(entry);
    REQUIRE(write_file_atomic(entry / "bzImage", bz).ok());
    nlohmann::json meta = {{"hash", entry.filename().string()}, {"release", "6.1.0-fake"}};
    if (with_digest) {
      meta["bzimage_size"] = bz.size();
      meta["bzimage_sha256"] = sha256_hex(bz);
    }
    REQUIRE(write_file_atomic(entry / "meta.json", meta.dump(2)).ok());
  }
  std::string damage() {
    auto k = find_cached_kernel(opts);
    REQUIRE(k.ok());
    REQUIRE(k->has_value());
    return (*k)->damage;
  }
  nlohmann::json meta() { return nlohmann::json::parse(*read_file(entry / "meta.json")); }
};

}  // namespace

TEST_CASE("a sound cached kernel has no damage, and no entry is no kernel") {
  FakeKernelCache c;
  auto none = find_cached_kernel(c.opts);
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  c.publish(test::fake_bzimage(), true);
  CHECK(c.damage() == "");
}

TEST_CASE("a cached bzImage cut to half, changed in place or emptied is damaged, with the reason") {
  FakeKernelCache c;
  std::string bz = test::fake_bzimage();
  c.publish(bz, true);
  SECTION("cut to half") {
    REQUIRE(write_file_atomic(c.entry / "bzImage", bz.substr(0, bz.size() / 2)).ok());
    CHECK(c.damage() == fmt::format("bzImage is {} bytes, meta.json recorded {}", bz.size() / 2, bz.size()));
  }
  SECTION("one byte changed, same size") {
    bz[bz.size() - 100] ^= 1;
    REQUIRE(write_file_atomic(c.entry / "bzImage", bz).ok());
    CHECK_THAT(c.damage(), Catch::Contains("sha256 is not the one meta.json recorded"));
  }
  SECTION("missing") {
    fs::remove(c.entry / "bzImage");
    CHECK_THAT(c.damage(), Catch::StartsWith("bzImage: "));
  }
}

TEST_CASE("an older cache entry without size and sha256 is checked against its bzImage header") {
  FakeKernelCache c;
  std::string bz = test::fake_bzimage();
  c.publish(bz, false);
  CHECK(c.damage() == "");
  SECTION("cut to half: shorter than the setup header says") {
    REQUIRE(write_file_atomic(c.entry / "bzImage", bz.substr(0, bz.size() / 2)).ok());
    CHECK_THAT(c.damage(), Catch::Contains(fmt::format("cut short: {} bytes, its bzImage header says {}",
                                                       bz.size() / 2, bz.size())));
  }
  SECTION("0 bytes") {
    REQUIRE(write_file_atomic(c.entry / "bzImage", "").ok());
    CHECK_THAT(c.damage(), Catch::Contains("not a bzImage"));
  }
  SECTION("a boot records the digest once; a later change in place is then found") {
    record_cached_kernel_digest(c.entry / "bzImage");
    CHECK(c.meta()["bzimage_size"] == bz.size());
    CHECK(c.meta()["bzimage_sha256"] == sha256_hex(bz));
    CHECK(c.meta()["release"] == "6.1.0-fake");  // the rest of meta.json is kept
    CHECK(c.damage() == "");
    bz[3000] ^= 1;
    REQUIRE(write_file_atomic(c.entry / "bzImage", bz).ok());
    CHECK_THAT(c.damage(), Catch::Contains("sha256"));
  }
}

TEST_CASE("recording a digest leaves kernels outside the cache alone") {
  FakeKernelCache c;
  REQUIRE(write_file_atomic(c.d.path() / "bzImage", test::fake_bzimage()).ok());
  REQUIRE(write_file_atomic(c.d.path() / "meta.json", "{}").ok());
  record_cached_kernel_digest(c.d.path() / "bzImage");
  CHECK(*read_file(c.d.path() / "meta.json") == "{}");
}

TEST_CASE("an empty or corrupt meta.json makes a damaged entry, not an error without a hint") {
  FakeKernelCache c;
  c.publish(test::fake_bzimage(), true);
  REQUIRE(write_file_atomic(c.entry / "meta.json", "").ok());
  CHECK(c.damage() == "meta.json is empty");
  REQUIRE(write_file_atomic(c.entry / "meta.json", "{\"release\": \"6.1").ok());
  CHECK(c.damage() == "meta.json is not a JSON object");
  fs::remove(c.entry / "meta.json");
  CHECK_THAT(c.damage(), Catch::StartsWith("meta.json: "));
  CHECK(kernel_rebuild_command(c.opts) == "faultbox kernel build --source " + c.opts.source.string() +
                                              " --fragment-dir " + c.opts.fragment_dir.string());
  CHECK(kernel_rebuild_command({}) == "faultbox kernel build");
}
