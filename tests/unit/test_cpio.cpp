#include "common/files.h"
#include "common/process.h"
#include "orchestrator/core/cpio.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>

using namespace fb;
namespace fs = std::filesystem;

static std::string sample_archive() {
  CpioWriter w;
  w.add_file("bin/hello", "#!/bin/sh\necho hi\n", 0755);
  w.add_symlink("bin/sh", "/bin/busybox");
  w.add_char_device("dev/console", 5, 1);
  w.add_file("etc/empty", "");
  w.add_file("odd/length/name3", std::string(1023, 'z'));
  return w.finish();
}

TEST_CASE("GNU cpio reads what CpioWriter writes, parents and contents included") {
  test::ScratchDir dir;
  auto archive = sample_archive();
  REQUIRE(write_file_atomic(dir.path() / "a.cpio", archive).ok());
  auto listing = run_capture({"sh", "-c", "cpio -it --quiet < " + (dir.path() / "a.cpio").string()}, true);
  REQUIRE(listing.ok());
  INFO(listing->output);
  REQUIRE(listing->status.code == 0);
  for (const char* name : {"bin", "bin/hello", "bin/sh", "dev", "dev/console", "etc/empty", "odd", "odd/length",
                           "odd/length/name3"})
    CHECK(listing->output.find(std::string(name) + "\n") != std::string::npos);
  fs::create_directories(dir.path() / "x");
  // --no-absolute-filenames and no device creation as non-root: extract the regular files only
  auto ex = run_capture({"sh", "-c", "cd " + (dir.path() / "x").string() + " && cpio -id --quiet 'bin/*' 'odd/*' < ../a.cpio"}, true);
  REQUIRE(ex.ok());
  INFO(ex->output);
  CHECK(*read_file(dir.path() / "x/bin/hello") == "#!/bin/sh\necho hi\n");
  CHECK(fs::read_symlink(dir.path() / "x/bin/sh") == "/bin/busybox");
  CHECK(read_file(dir.path() / "x/odd/length/name3")->size() == 1023);
}

TEST_CASE("validate_cpio accepts a whole archive and counts its entries") {
  auto s = validate_cpio(sample_archive(), "t");
  REQUIRE(s.ok());
  CHECK(s->entries == 10);  // 5 added + parents bin, dev, etc, odd, odd/length
}

TEST_CASE("validate_cpio names a truncated archive and a bad magic") {
  auto a = sample_archive();
  auto cut = validate_cpio(a.substr(0, a.size() / 2), "half.cpio");
  REQUIRE_FALSE(cut.ok());
  CHECK(cut.error().kind == ErrorKind::Boot);
  CHECK_THAT(cut.error().message, Catch::Contains("half.cpio") && Catch::Contains("corrupt initramfs"));
  auto bad = a;
  bad[0] = 'X';
  auto m = validate_cpio(bad, "bad.cpio");
  REQUIRE_FALSE(m.ok());
  CHECK_THAT(m.error().message, Catch::Contains("bad cpio magic"));
  auto notrailer = validate_cpio(a.substr(0, a.size() - 124), "t");
  CHECK_FALSE(notrailer.ok());
}

TEST_CASE("validate_cpio leaves compressed archives to the kernel") {
  auto s = validate_cpio(std::string("\x1f\x8b\x08\x00rest", 8), "gz");
  REQUIRE(s.ok());
  CHECK(s->compressed);
}
