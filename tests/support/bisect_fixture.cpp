#include "tests/support/bisect_fixture.h"

#include "orchestrator/core/cache.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>

namespace fb::test {

namespace fs = std::filesystem;

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The extracted linux-source-6.1 tree `faultbox kernel build` left in the cache.
fs::path linux_source_tree() {
  std::error_code ec;
  for (auto& e : fs::directory_iterator(cache_root() / "src", ec))
    for (auto& t : fs::directory_iterator(e.path(), ec))
      if (fs::exists(t.path() / "fs/namei.c") && fs::exists(t.path() / "Makefile")) return t.path();
  return {};
}

}  // namespace

const fs::path& bisect_fixture_repo() {
  static fs::path repo = [] {
    auto src = linux_source_tree();
    INFO("no extracted linux-source-6.1 tree in " << (cache_root() / "src") << ": run faultbox kernel build first");
    REQUIRE(!src.empty());
    auto r = run({std::string(FAULTBOX_SOURCE_DIR) + "/tests/support/make-bisect-fixture.sh", src.string(),
                  (cache_root() / "bisect-fixture").string()},
                 RunOptions{.timeout = std::chrono::seconds(1800)});
    INFO(r.err);
    REQUIRE(r.status.code == 0);
    return fs::path(trim(r.out));
  }();
  return repo;
}

std::string git_in(const fs::path& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"git", "-C", dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run(argv);
  INFO(r.err);
  REQUIRE(r.status.code == 0);
  return trim(r.out);
}

}  // namespace fb::test
