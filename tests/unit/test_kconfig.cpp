#include "common/files.h"
#include "orchestrator/core/kconfig.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>

using namespace fb;

TEST_CASE("kconfig lines parse with their file and line") {
  auto f = parse_kconfig("frag.config", "# comment\n\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S=\"str\"\n");
  REQUIRE(f.ok());
  REQUIRE(f->entries.size() == 3);
  CHECK(f->entries[0].symbol == "A");
  CHECK(f->entries[0].line == 3);
  CHECK(f->entries[1].value == "n");
  CHECK(f->entries[2].value == "\"str\"");
}

TEST_CASE("a malformed fragment line is an error with file:line") {
  auto f = parse_kconfig("kconfigs/x.config", "CONFIG_A=y\nFAULT_INJECTION=y\n");
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().kind == ErrorKind::Usage);
  CHECK_THAT(f.error().message, Catch::StartsWith("kconfigs/x.config:2:"));
  auto empty = parse_kconfig("y.config", "CONFIG_A=\n");
  REQUIRE_FALSE(empty.ok());
  CHECK_THAT(empty.error().message, Catch::StartsWith("y.config:1:"));
}

TEST_CASE("options that did not survive are found, with the last request winning") {
  auto a = parse_kconfig("a.config", "CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\n");
  auto b = parse_kconfig("b.config", "CONFIG_B=m\n");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  std::map<std::string, std::string> final_cfg = {{"A", "y"}, {"B", "y"}, {"C", "y"}};
  auto lost = find_lost_options({*a, *b}, final_cfg);
  REQUIRE(lost.size() == 2);
  CHECK(lost[0].requested.symbol == "C");
  CHECK(lost[0].actual == "y");
  CHECK(lost[1].requested.symbol == "B");
  CHECK(lost[1].requested.value == "m");
}

TEST_CASE("a lost option is explained by its Kconfig dependencies and their values") {
  test::ScratchDir src;
  std::filesystem::create_directories(src.path() / "lib");
  REQUIRE(write_file_atomic(src.path() / "lib/Kconfig.debug",
                            "config OTHER\n\tbool\n\nconfig STACKTRACE_FILTER\n\tbool \"filter\"\n"
                            "\tdepends on DEBUG_FS && STACKTRACE_SUPPORT\n\tdepends on !X86_64\n\thelp\n\t  x\n\n"
                            "config NODEPS\n\tbool\n")
              .ok());
  std::map<std::string, std::string> cfg = {{"DEBUG_FS", "y"}, {"X86_64", "y"}};
  auto why = explain_lost_option(src.path(), "STACKTRACE_FILTER", cfg);
  CHECK_THAT(why, Catch::Contains("lib/Kconfig.debug:4"));
  CHECK_THAT(why, Catch::Contains("depends on !X86_64 [X86_64=y]"));
  CHECK_THAT(why, Catch::Contains("STACKTRACE_SUPPORT=n"));
  CHECK_THAT(explain_lost_option(src.path(), "NODEPS", cfg), Catch::Contains("no 'depends on'"));
  CHECK(explain_lost_option(src.path(), "NOT_THERE", cfg) == "no such option in this kernel source");
}
