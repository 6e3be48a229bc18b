// `check` refuses everything `run` would refuse before it boots (both go through the plan pass):
// every malformed and every refused scenario of the corpus goes through both commands, which
// must agree on the exit code and the message, with no VM started.
#include "tests/support/support.h"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace fb;
using namespace fb::test;
namespace fs = std::filesystem;

namespace {
std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }
}  // namespace

TEST_CASE("check and run refuse the same scenarios before boot, with the same exit code and message") {
  std::string faultbox = FAULTBOX_CLI_BIN;
  ScratchDir rt;
  RunOptions opts;
  opts.env["XDG_RUNTIME_DIR"] = rt.path().string();
  opts.env["XDG_STATE_HOME"] = (rt.path() / "state").string();
  opts.timeout = std::chrono::seconds(60);
  int files = 0;
  for (const char* corpus : {"bad", "refused"}) {
    for (auto& e : fs::directory_iterator(fs::path(FAULTBOX_SOURCE_DIR) / "tests/data/scenarios" / corpus)) {
      if (e.path().extension() != ".toml") continue;
      ++files;
      auto check = run({faultbox, "check", e.path().string()}, opts);
      auto ran = run({faultbox, "run", e.path().string()}, opts);
      INFO(e.path().filename().string() << "\ncheck: " << check.err << "\nrun: " << ran.out << ran.err);
      CHECK(check.status.code == 2);
      CHECK(ran.status.code == 2);
      CHECK(first_line(check.err) == first_line(ran.err));
      CHECK_THAT(ran.err, !Catch::Contains("vm: up"));
    }
  }
  CHECK(files >= 60);
}
