#include "common/files.h"
#include "orchestrator/core/kernel_builder.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>

using namespace fb;

TEST_CASE("check_kernel_image tells a missing file, a directory and a non-kernel apart") {
  test::ScratchDir d;
  auto missing = check_kernel_image(d.path() / "nope");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().kind == ErrorKind::Usage);
  CHECK_THAT(missing.error().message, Catch::Contains("no such file"));
  CHECK_THAT(check_kernel_image(d.path()).error().message, Catch::Contains("not a regular file"));
  REQUIRE(write_file_atomic(d.path() / "text", std::string(4096, 'k')).ok());
  CHECK_THAT(check_kernel_image(d.path() / "text").error().message, Catch::Contains("not a bzImage"));
  std::string fake_bz(1024, '\0');  // one setup sector + the boot sector, no code: as long as it says
  fake_bz[0x1f1] = 1;
  fake_bz.replace(0x202, 4, "HdrS");
  REQUIRE(write_file_atomic(d.path() / "bz", fake_bz).ok());
  CHECK(check_kernel_image(d.path() / "bz").ok());
  // a bzImage shorter than its setup header says is refused as cut, before QEMU sees it
  fake_bz[0x1f4] = 16;  // syssize: 16 paragraphs of code that are not there
  REQUIRE(write_file_atomic(d.path() / "cut", fake_bz).ok());
  auto cut = check_kernel_image(d.path() / "cut");
  REQUIRE_FALSE(cut.ok());
  CHECK(cut.error().kind == ErrorKind::Usage);
  CHECK_THAT(cut.error().message, Catch::Contains("cut short: 1024 bytes, its bzImage header says 1280"));
}
