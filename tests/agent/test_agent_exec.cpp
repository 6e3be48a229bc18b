// exec over the real protocol: exit statuses, stream separation, liveness, byte-exactness.
#include "common/files.h"
#include "protocol/protocol.h"
#include "tests/agent/fake_vm.h"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace fb;

static ExecRequest cmd(std::vector<std::string> argv) {
  ExecRequest r;
  r.argv = std::move(argv);
  return r;
}

TEST_CASE("exec separates stdout from stderr and returns the exit code") {
  test::FakeVm f;
  test::Captured c;
  auto r = f.agent->exec(cmd({"sh", "-c", "echo out; echo err >&2; exit 7"}), c.sink());
  REQUIRE(r.ok());
  CHECK(r->status.code == 7);
  CHECK(r->status.signal == 0);
  CHECK(c.out == "out\n");
  CHECK(c.err == "err\n");
  CHECK(r->seq_gaps == 0);
}

TEST_CASE("a command killed by a signal reports the signal") {
  test::FakeVm f;
  test::Captured c;
  auto r = f.agent->exec(cmd({"sh", "-c", "kill -SEGV $$"}), c.sink());
  REQUIRE(r.ok());
  CHECK(r->status.signal == SIGSEGV);
  CHECK(r->status.shell_code() == 128 + SIGSEGV);
}

TEST_CASE("a missing program is an exec_failed error, not an exit code") {
  test::FakeVm f;
  test::Captured c;
  auto r = f.agent->exec(cmd({"/no/such/program"}), c.sink());
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("No such file"));
  // and the agent still works
  auto again = f.agent->exec(cmd({"true"}), c.sink());
  REQUIRE(again.ok());
  CHECK(again->status.code == 0);
}

// The agent searches PATH itself (it starts steps with vfork, where execvp's own search would
// read the agent's environment): these are execvp's rules it must keep.
TEST_CASE("exec finds programs as execvp does: PATH, a file without #! under /bin/sh, permission denied") {
  test::FakeVm f;
  test::Captured c;
  test::ScratchDir dir;
  auto write_file = [&](const std::string& name, const std::string& text, std::filesystem::perms mode) {
    auto p = dir.path() / name;
    std::ofstream(p) << text;
    std::filesystem::permissions(p, mode);
    return p.string();
  };
  using P = std::filesystem::perms;
  std::string no_hashbang = write_file("no-hashbang", "echo \"ran by sh with [$1]\"\n", P::owner_all);
  std::string not_executable = write_file("not-executable", "#!/bin/sh\necho nope\n", P::owner_read | P::owner_write);

  auto r = f.agent->exec(cmd({no_hashbang, "an arg"}), c.sink());
  REQUIRE(r.ok());
  CHECK(r->status.code == 0);
  CHECK(c.out == "ran by sh with [an arg]\n");

  auto denied = f.agent->exec(cmd({not_executable}), c.sink());
  REQUIRE_FALSE(denied.ok());
  CHECK_THAT(denied.error().message, Catch::Contains("Permission denied"));

  // a bare name: looked up in the command's PATH (here the default one, which has sh)
  c.out.clear();
  auto bare = f.agent->exec(cmd({"sh", "-c", "echo found"}), c.sink());
  REQUIRE(bare.ok());
  CHECK(c.out == "found\n");

  auto missing = f.agent->exec(cmd({"no-such-program-anywhere"}), c.sink());
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message, Catch::Contains("No such file"));
  auto empty = f.agent->exec(cmd({""}), c.sink());
  REQUIRE_FALSE(empty.ok());
  CHECK_THAT(empty.error().message, Catch::Contains("No such file"));
}

TEST_CASE("output arrives while the command still runs") {
  test::FakeVm f;
  test::Captured c;
  auto t0 = std::chrono::steady_clock::now();
  auto r = f.agent->exec(cmd({"sh", "-c", "echo first; sleep 1.5; echo second"}), c.sink());
  auto t1 = std::chrono::steady_clock::now();
  REQUIRE(r.ok());
  REQUIRE(c.out_chunks.size() == 2);
  CHECK(c.out_chunks[0].second == "first\n");
  // "first" came long before the command ended
  CHECK(t1 - c.out_chunks[0].first > std::chrono::milliseconds(1000));
  CHECK(c.out_chunks[0].first - t0 < std::chrono::milliseconds(1000));
}

TEST_CASE("16 MiB of binary output arrives byte-exact with no sequence gaps") {
  test::FakeVm f;
  test::ScratchDir d;
  std::string file = (d.path() / "blob").string();
  test::Captured c;
  auto mk = f.agent->exec(cmd({"sh", "-c", "head -c 16777216 /dev/urandom > " + file + " && sha256sum " + file}),
                          c.sink());
  REQUIRE(mk.ok());
  std::string want = c.out.substr(0, 64);
  test::Captured blob;
  auto r = f.agent->exec(cmd({"cat", file}), blob.sink());
  REQUIRE(r.ok());
  CHECK(r->status.code == 0);
  CHECK(blob.out.size() == 16777216u);
  CHECK(test::sha256_of(blob.out) == want);
  CHECK(r->seq_gaps == 0);
  CHECK(r->frames >= 16777216u / proto::kMaxFramePayload);
  CHECK(f.agent->trace_skipped_bytes() == 0);
}

TEST_CASE("env and cwd reach the command") {
  test::FakeVm f;
  test::Captured c;
  ExecRequest r = cmd({"sh", "-c", "echo $FOO; pwd"});
  r.env["FOO"] = "bar baz";
  r.cwd = "/tmp";
  auto res = f.agent->exec(r, c.sink());
  REQUIRE(res.ok());
  CHECK(c.out == "bar baz\n/tmp\n");
}

TEST_CASE("an exec past its timeout is killed in the guest and reported as a timeout") {
  test::FakeVm f;
  test::Captured c;
  ExecRequest r = cmd({"sleep", "30"});
  r.timeout = std::chrono::milliseconds(300);
  auto res = f.agent->exec(r, c.sink());
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().kind == ErrorKind::Timeout);
  // the agent killed the workload and serves the next request
  auto after = f.agent->exec(cmd({"true"}), c.sink());
  REQUIRE(after.ok());
}

TEST_CASE("shutdown ends the agent process") {
  test::FakeVm f;
  REQUIRE(f.agent->shutdown().ok());
  REQUIRE(f.vm->exit_info());
  CHECK(f.vm->exit_info()->status.code == 0);
}

TEST_CASE("an exec aiming faults that are not armed is refused with no_such_fault, and nothing runs") {
  test::FakeVm f;
  test::Captured c;
  auto req = cmd({"sh", "-c", "echo ran"});
  req.faults = {42};
  auto r = f.agent->exec(req, c.sink());
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("no armed fault 42"));
  CHECK(c.out.empty());
  auto again = f.agent->exec(cmd({"true"}), c.sink());
  REQUIRE(again.ok());
}

TEST_CASE("the agent on the host makes no step cgroups (it must not touch the host's)") {
  test::FakeVm f;
  test::Captured c;
  auto r = f.agent->exec(cmd({"sh", "-c", "echo \"[${FAULTBOX_CGROUP-unset}]\""}), c.sink());
  REQUIRE(r.ok());
  CHECK(c.out == "[unset]\n");
}

TEST_CASE("ftrace_pid points a tracefs dir at the step's pid and switches tracing on before it runs") {
  // A directory standing in for tracefs: on the host the agent must not touch the real one.
  test::FakeVm f;
  char tmpl[] = "/tmp/faultbox-tracefs-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  std::string dir = tmpl;
  REQUIRE(write_file_atomic(dir + "/set_ftrace_pid", "").ok());
  REQUIRE(write_file_atomic(dir + "/tracing_on", "0").ok());
  test::Captured c;
  // The step itself sees both written when its first instruction runs.
  ExecRequest r = cmd({"sh", "-c", "echo $$; cat " + dir + "/set_ftrace_pid; echo; cat " + dir + "/tracing_on"});
  r.ftrace_pid = dir;
  auto res = f.agent->exec(r, c.sink());
  REQUIRE(res.ok());
  CHECK(res->status.code == 0);
  std::istringstream lines(c.out);
  std::string pid, written, on;
  std::getline(lines, pid);
  std::getline(lines, written);
  std::getline(lines, on);
  CHECK(!pid.empty());
  CHECK(written == pid);
  CHECK(on == "1");
  ExecRequest bad = cmd({"true"});
  bad.ftrace_pid = dir + "/missing";
  auto refused = f.agent->exec(bad, c.sink());
  CHECK(!refused.ok());  // a tracefs that cannot be written is an exec failure, not a silent untraced run
  std::filesystem::remove_all(dir);
}
