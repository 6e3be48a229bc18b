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
  std::string fake_bz(0x300, '\0');
  fake_bz.replace(0x202, 4, "HdrS");
  REQUIRE(write_file_atomic(d.path() / "bz", fake_bz).ok());
  CHECK(check_kernel_image(d.path() / "bz").ok());
}
