// The test suite's own hygiene: catch_discover_tests hands each test name to ctest as a filter,
// and a name with ';' is split there (CMake lists) or one starting with "--" is read as an
// option. Either way ctest runs a filter that matches nothing and reports "Passed" in 0.00 s:
// three tests ran nothing that way before this check existed.
#include "common/files.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

namespace fs = std::filesystem;

TEST_CASE("every test name survives ctest discovery (no semicolon inside, no leading dashes)") {
  int names = 0;
  for (auto& e : fs::recursive_directory_iterator(fs::path(FAULTBOX_SOURCE_DIR) / "tests")) {
    if (e.path().extension() != ".cpp") continue;
    auto text = fb::read_file(e.path());
    REQUIRE(text.ok());
    const std::string marker = "TEST_CASE(\"";
    for (std::size_t pos = text->find(marker); pos != std::string::npos; pos = text->find(marker, pos + 1)) {
      std::size_t start = pos + marker.size();
      std::size_t end = text->find('"', start);
      REQUIRE(end != std::string::npos);
      std::string name = text->substr(start, end - start);
      ++names;
      INFO(e.path().filename().string() << ": " << name);
      CHECK(name.find(';') == std::string::npos);
      CHECK(name.rfind("--", 0) != 0);
    }
  }
  CHECK(names > 100);
}
