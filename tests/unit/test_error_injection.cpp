// The error-injection list: read from a vmlinux-like ELF, cached per kernel image, and used to
// refuse fail_function and bpf_override functions before boot.
#include "orchestrator/core/cache.h"
#include "orchestrator/core/error_injection.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>

#include <fstream>

using namespace fb;

TEST_CASE("the error-injection list is read from the table between __start_ and __stop_error_injection_whitelist") {
  auto list = read_error_injection_list(FAULTBOX_ERROR_INJECTION_FIXTURE);
  INFO((list ? "" : list.error().message));
  REQUIRE(list.ok());
  REQUIRE(list->functions.size() == 2);
  CHECK(list->functions[0].function == "fixture_returns_errno");
  CHECK(list->functions[0].type == "ERRNO");
  CHECK(list->functions[1].function == "fixture_returns_true");
  CHECK(list->functions[1].type == "TRUE");
  CHECK(list->contains("fixture_returns_true"));
  CHECK_FALSE(list->contains("main"));
}

TEST_CASE("a file without the table, or not ELF, is an error that says so") {
  test::ScratchDir dir;
  auto text = dir.path() / "not-elf";
  std::ofstream(text) << "hello";
  auto r = read_error_injection_list(text);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("not a little-endian ELF64"));
  auto unit_tests = read_error_injection_list("/proc/self/exe");
  REQUIRE_FALSE(unit_tests.ok());
  CHECK_THAT(unit_tests.error().message, Catch::Contains("__start/__stop_error_injection_whitelist"));
}

TEST_CASE("a kernel's cached list refuses functions outside it, naming the list, in one line") {
  test::ScratchDir dir;
  auto previous_root = cache_root();
  set_cache_root(dir.path() / "cache");
  auto bzimage = dir.path() / "bzImage";
  std::ofstream(bzimage) << "some kernel image";
  CHECK_FALSE(cached_error_injection_list(bzimage));
  ErrorInjectionList list{"6.1.0-test", "booted kernel", {{"should_failslab", "ERRNO"}}};
  REQUIRE(cache_error_injection_list(bzimage, list).ok());
  auto cached = cached_error_injection_list(bzimage);
  REQUIRE(cached);
  CHECK(cached->release == "6.1.0-test");
  CHECK(cached->contains("should_failslab"));

  auto sc = parse_scenario_text(R"(name = "x"
[[fault]]
type = "bpf_override"
name = "allowed"
function = "should_failslab"
[[fault]]
type = "bpf_override"
name = "refused"
function = "vfs_read"
[[step]]
name = "s"
run = "true"
)",
                                "s.toml");
  REQUIRE(sc.ok());
  auto e = find_uninjectable_fault(*sc, *cached);
  REQUIRE(e);
  CHECK(e->kind == ErrorKind::Usage);
  CHECK_THAT(e->message, Catch::StartsWith("s.toml:6:1: 'vfs_read' is not injectable in kernel 6.1.0-test"));
  CHECK_THAT(e->message, Catch::Contains("/sys/kernel/debug/error_injection/list"));
  CHECK(e->message.find('\n') == std::string::npos);
  // another image (different content) has no list yet
  std::ofstream(bzimage) << "rebuilt";
  CHECK_FALSE(cached_error_injection_list(bzimage));
  set_cache_root(previous_root);
}
