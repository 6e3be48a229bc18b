// `kernel path|build --tree REPO --rev REV` on a fake cache (FAULTBOX_CACHE_DIR) and a small git
// repository laid out like a kernel tree: the commit's kernel is found by its `git:<commit>`
// identity, the same key `--source` gives a checkout of that commit (and bisect its steps),
// without checking anything out. No kernel is compiled, no VM started.
#include "common/files.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/kernel_builder.h"
#include "tests/support/bisect_fixture.h"
#include "tests/agent/fake_kernel_cache.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

using namespace fb;
using namespace fb::test;
namespace fs = std::filesystem;

TEST_CASE("kernel path/build --tree --rev find the commit's cached kernel by git:<commit> without a checkout") {
  ScratchDir d;
  fs::path repo = d.path() / "linux";
  fs::create_directories(repo);
  REQUIRE(write_file_atomic(repo / "Makefile", "# first\n").ok());
  REQUIRE(write_file_atomic(repo / "Kconfig", "\n").ok());
  git_in(repo, {"init", "-q", "-b", "master"});
  git_in(repo, {"add", "-A"});
  git_in(repo, {"-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-q", "-m", "first"});
  git_in(repo, {"tag", "first"});
  std::string first = git_in(repo, {"rev-parse", "HEAD"});
  REQUIRE(write_file_atomic(repo / "Makefile", "# second\n").ok());
  git_in(repo, {"-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-q", "-am", "second"});
  std::string second = git_in(repo, {"rev-parse", "HEAD"});
  fs::create_directories(d.path() / "kconfigs");
  REQUIRE(write_file_atomic(d.path() / "kconfigs/base.config", "CONFIG_PRINTK=y\n").ok());
  fs::path cache = d.path() / "cache";
  RunOptions ro;
  ro.env["FAULTBOX_CACHE_DIR"] = cache.string();
  ro.env["FAULTBOX_KERNEL_SOURCE"] = (d.path() / "no-tarball.tar.xz").string();  // the worktree's geometry falls back
  ro.timeout = std::chrono::seconds(30);
  auto kernel = [&](const std::string& sub, std::vector<std::string> args) {
    std::vector<std::string> argv = {FAULTBOX_CLI_BIN, "kernel", sub, "--fragment-dir", (d.path() / "kconfigs").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, ro);
  };

  // The kernel `--source` built from the checkout at HEAD is HEAD's for --tree (and --rev defaults to HEAD).
  KernelBuildOptions at_head;
  at_head.source = repo;
  at_head.fragment_dir = d.path() / "kconfigs";
  auto head_entry = publish_fake_kernel(cache, at_head, fake_bzimage());
  auto head = kernel("path", {"--tree", repo.string()});
  INFO(head.err);
  CHECK(head.status.code == 0);
  CHECK(head.out == (head_entry / "bzImage").string() + "\n");
  CHECK(kernel("path", {"--tree", repo.string(), "--rev", second}).out == head.out);

  // Another commit is not built yet: exit 1 with the command that builds it.
  auto missing = kernel("path", {"--tree", repo.string(), "--rev", "first"});
  CHECK(missing.status.code == 1);
  CHECK_THAT(missing.err, Catch::Contains("not built yet (faultbox kernel build"));
  CHECK_THAT(missing.err, Catch::Contains("--tree " + fs::canonical(repo).string() + " --rev " + first));

  // Once it is in the cache (as bisect would have left it), `build` is a hit: nothing is checked
  // out, no worktree made, the user's checkout stays at HEAD.
  KernelBuildOptions at_first;
  at_first.git_commit = first;
  at_first.fragment_dir = d.path() / "kconfigs";
  auto first_entry = publish_fake_kernel(cache, at_first, fake_bzimage(3000));
  CHECK(first_entry != head_entry);
  auto hit = kernel("build", {"--tree", repo.string(), "--rev", "first"});
  INFO(hit.err);
  CHECK(hit.status.code == 0);
  CHECK(hit.out == (first_entry / "bzImage").string() + "\n");
  CHECK_THAT(hit.err, Catch::Contains("kernel: cached"));
  CHECK_FALSE(fs::exists(cache / "bisect"));
  CHECK(git_in(repo, {"rev-parse", "HEAD"}) == second);
  CHECK(git_in(repo, {"worktree", "list", "--porcelain"}).find("worktree " + (cache / "bisect").string()) == std::string::npos);

  // Bad input: one line, exit 2.
  auto one_line = [](const Run& r, const std::string& what) {
    INFO(r.out << r.err);
    CHECK(r.status.code == 2);
    CHECK_THAT(r.err, Catch::Contains(what));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  };
  one_line(kernel("path", {"--tree", repo.string(), "--rev", "no-such-rev"}), "kernel: --rev no-such-rev: no such commit");
  one_line(kernel("build", {"--tree", (d.path() / "kconfigs").string()}), "not a git work tree");
  one_line(kernel("path", {"--rev", "first"}), "--rev needs --tree");
  one_line(kernel("path", {"--tree", repo.string(), "--source", repo.string()}), "give --source or --tree, not both");
}
