#include "common/files.h"
#include "common/process.h"
#include "orchestrator/core/tar.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>

using namespace fb;
namespace fs = std::filesystem;

TEST_CASE("GNU tar reads what TarWriter writes: types, modes, owners, links, devices, long paths") {
  test::ScratchDir dir;
  std::ostringstream out;
  TarWriter w(out);
  std::string deep = "usr/lib/" + std::string(60, 'd') + "/" + std::string(70, 'e') + "/libz.so.1";  // > 100 bytes
  REQUIRE(w.add_dir("proc"));
  REQUIRE(w.add_file("init", "#!/bin/sh\necho hi\n", 0755));
  REQUIRE(w.add_symlink("bin/sh", "/bin/busybox"));
  REQUIRE(w.add_char_device("dev/console", 5, 1, 0600));
  REQUIRE(w.add_file("etc/odd", std::string(1023, 'z')));  // not a multiple of the block size
  REQUIRE(w.add_file(deep, "lib", 0755));
  REQUIRE(w.finish());
  CHECK(out.str().size() % 512 == 0);
  REQUIRE(write_file_atomic(dir.path() / "a.tar", out.str()));

  auto listing = run_capture({"tar", "--numeric-owner", "-tvf", (dir.path() / "a.tar").string()}, true);
  REQUIRE(listing.ok());
  INFO(listing->output);
  REQUIRE(listing->status.code == 0);
  auto line_of = [&](const std::string& name) {
    std::istringstream in(listing->output);
    std::string l;
    while (std::getline(in, l))
      if (l.size() >= name.size() && (l.compare(l.size() - name.size(), name.size(), name) == 0 ||
                                      l.find(" " + name + " -> ") != std::string::npos))
        return l;
    return std::string();
  };
  CHECK(line_of("proc").rfind("drwxr-xr-x 0/0", 0) == 0);
  CHECK(line_of("bin").rfind("drwxr-xr-x 0/0", 0) == 0);  // parent added
  CHECK(line_of("init").rfind("-rwxr-xr-x 0/0", 0) == 0);
  CHECK_THAT(line_of("bin/sh"), Catch::StartsWith("lrwxrwxrwx 0/0") && Catch::EndsWith("bin/sh -> /bin/busybox"));
  CHECK_THAT(line_of("dev/console"), Catch::StartsWith("crw------- 0/0") && Catch::Contains("5,1"));
  CHECK(line_of(deep).rfind("-rwxr-xr-x 0/0", 0) == 0);

  fs::create_directories(dir.path() / "x");
  auto ex = run_capture({"tar", "-C", (dir.path() / "x").string(), "-xf", (dir.path() / "a.tar").string(), "init",
                         "etc/odd", deep},
                        true);
  REQUIRE(ex.ok());
  INFO(ex->output);
  REQUIRE(ex->status.code == 0);
  CHECK(*read_file(dir.path() / "x/init") == "#!/bin/sh\necho hi\n");
  CHECK(*read_file(dir.path() / "x/etc/odd") == std::string(1023, 'z'));
  CHECK(*read_file(dir.path() / "x" / deep) == "lib");
}

TEST_CASE("TarWriter refuses a path ustar cannot hold instead of cutting it") {
  std::ostringstream out;
  TarWriter w(out);
  auto r = w.add_file(std::string(120, 'a'), "x");  // no slash to split at
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("too long for a tar archive"));
  CHECK_FALSE(w.add_file("a/" + std::string(200, 'b'), "x").ok());
}
