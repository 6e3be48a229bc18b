// Everything works as an unprivileged user: no root, no kvm group (so TCG), own caches.
#include "common/files.h"
#include "tests/vm/vm_support.h"

#include <sys/stat.h>
#include <unistd.h>

using namespace fb;
using namespace fb::test;

static const char* kUser = "faultbox-test";

TEST_CASE("exec works for an unprivileged user under TCG") {
  if (geteuid() != 0) {
    WARN("not root: cannot create the test user; this test runs in CI, which is root");
    return;
  }
  auto exists = run({"id", "-u", kUser});
  if (exists.status.code != 0) REQUIRE(run({"useradd", "--create-home", "--shell", "/bin/sh", kUser}).status.code == 0);
  // The user gets its own copy of the kernel (root's cache is private) in a dir it owns.
  ScratchDir dir;
  chmod(dir.path().c_str(), 0755);
  auto kernel = run({faultbox_binary(), "-q", "kernel", "path"});
  REQUIRE(kernel.status.code == 0);
  std::string bz = kernel.out.substr(0, kernel.out.find('\n'));
  REQUIRE(copy_file_atomic(bz, dir.path() / "bzImage").ok());
  chmod((dir.path() / "bzImage").c_str(), 0644);
  auto rt = dir.path() / "runtime";
  REQUIRE(run({"install", "-d", "-o", kUser, "-m", "0700", rt.string()}).status.code == 0);

  auto r = run({"runuser", "-u", kUser, "--", "env", std::string("HOME=/home/") + kUser, "XDG_RUNTIME_DIR=" + rt.string(),
                faultbox_binary(), "exec", "--kernel", (dir.path() / "bzImage").string(), "--", "sh", "-c",
                "id -u; echo 1 > /proc/sys/kernel/sysrq && echo guest-root-ok"});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  CHECK(r.out == "0\nguest-root-ok\n");  // root inside the guest, nobody special outside
  CHECK_THAT(r.err, Catch::Contains("faultbox: accel: tcg"));
  // nothing of the run is left, and nothing was created as root in the user's cache
  auto left = processes_mentioning(rt.string());
  CHECK(left.empty());
  CHECK((!std::filesystem::exists(rt / "faultbox") || std::filesystem::is_empty(rt / "faultbox")));
  auto owners = run({"find", std::string("/home/") + kUser + "/.cache/faultbox", "-not", "-user", kUser});
  CHECK(owners.out.empty());
}
