// Bad input: one clear line, a distinct exit code, nothing left behind.
#include "common/files.h"
#include "tests/vm/vm_support.h"

using namespace fb;
using namespace fb::test;

static int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

TEST_CASE("a missing --kernel is a usage error (exit 2) naming the path") {
  ScratchDir rt;
  auto r = faultbox_exec(rt, {"--kernel", "/nonexistent/bzImage", "--", "true"});
  CHECK(r.status.code == 2);
  CHECK(r.err == "faultbox: kernel /nonexistent/bzImage: no such file\n");
  require_no_leftovers(rt);
}

TEST_CASE("a --kernel that is not a kernel is a usage error (exit 2)") {
  ScratchDir rt;
  REQUIRE(write_file_atomic(rt.path() / "notakernel", std::string(8192, 'x')).ok());
  auto r = faultbox_exec(rt, {"--kernel", (rt.path() / "notakernel").string(), "--", "true"});
  CHECK(r.status.code == 2);
  CHECK_THAT(r.err, Catch::Contains("not a bzImage"));
  CHECK(count_lines(r.err) == 1);
}

TEST_CASE("a missing QEMU is an infrastructure error (exit 5) with the package to install") {
  ScratchDir rt;
  // The image first, so its one-time "image: built" progress line is not part of this run.
  REQUIRE(run({faultbox_binary(), "image", "build"}).status.code == 0);
  RunOptions o;
  o.env["PATH"] = rt.path().string();  // nothing in it
  o.unset_env = {"FAULTBOX_QEMU"};
  auto r = faultbox_exec(rt, {"--", "true"}, o);
  CHECK(r.status.code == 5);
  CHECK_THAT(r.err, Catch::Contains("qemu-system-x86_64 not found"));
  CHECK_THAT(r.err, Catch::Contains("apt-get install qemu-system-x86"));
  CHECK(count_lines(r.err) == 1);
  require_no_leftovers(rt);
}

TEST_CASE("a corrupt initramfs is a boot error (exit 6) found before QEMU starts") {
  ScratchDir rt;
  auto image = run({faultbox_binary(), "image", "build"});
  REQUIRE(image.status.code == 0);
  std::string path = image.out.substr(0, image.out.find('\n'));
  auto bytes = read_file(path);
  REQUIRE(bytes.ok());
  REQUIRE(write_file_atomic(rt.path() / "corrupt.cpio", bytes->substr(0, bytes->size() / 3)).ok());
  auto r = faultbox_exec(rt, {"--initrd", (rt.path() / "corrupt.cpio").string(), "--", "true"});
  CHECK(r.status.code == 6);
  CHECK_THAT(r.err, Catch::Contains("corrupt initramfs"));
  CHECK(count_lines(r.err) == 1);
  require_no_leftovers(rt);
}

TEST_CASE("a command missing in the guest is a usage error, not the command's status") {
  ScratchDir rt;
  auto r = faultbox_exec(rt, {"--", "/no/such/tool"});
  CHECK(r.status.code == 2);
  CHECK_THAT(r.err, Catch::Contains("guest could not run /no/such/tool"));
  require_no_leftovers(rt);
}

TEST_CASE("an unknown option is a usage error (exit 2)") {
  auto r = run({faultbox_binary(), "exec", "--no-such-flag", "--", "true"});
  CHECK(r.status.code == 2);
}
