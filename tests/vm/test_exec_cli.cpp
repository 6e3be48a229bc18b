// `faultbox exec` as a user runs it: real kernel, real QEMU, the agent as PID 1.
#include "common/files.h"
#include "tests/vm/vm_support.h"

#include <nlohmann/json.hpp>

#include <csignal>
#include <map>
#include <regex>

using namespace fb;
using namespace fb::test;

TEST_CASE("exec prints stdout and stderr apart and exits with the command's status") {
  ScratchDir rt;
  auto r = faultbox_exec(rt, {"--", "sh", "-c", "echo out; echo err >&2; exit 7"});
  INFO(r.err);
  CHECK(r.status.code == 7);
  CHECK(r.out == "out\n");
  CHECK_THAT(r.err, Catch::Contains("\nerr\n"));
  // the accelerator is named in exactly one line
  std::regex accel_line("(^|\n)faultbox: accel: (kvm|tcg)[^\n]*\n");
  auto n = std::distance(std::sregex_iterator(r.err.begin(), r.err.end(), accel_line), std::sregex_iterator());
  CHECK(n == 1);
  require_no_leftovers(rt);
}

TEST_CASE("exec output is live: a line printed before a sleep arrives before the sleep ends") {
  ScratchDir rt;
  auto r = faultbox_exec(rt, {"--", "sh", "-c", "echo first; sleep 4; echo second"});
  INFO(r.err);
  REQUIRE(r.status.code == 0);
  std::chrono::steady_clock::time_point first{}, second{};
  for (auto& c : r.chunks) {
    if (c.fd != 1) continue;
    if (c.data.find("first") != std::string::npos) first = c.at;
    if (c.data.find("second") != std::string::npos) second = c.at;
  }
  REQUIRE(first.time_since_epoch().count() != 0);
  REQUIRE(second.time_since_epoch().count() != 0);
  CHECK(second - first > std::chrono::milliseconds(2500));
}

TEST_CASE("exec whose stdout is closed (| head) kills the guest command and exits 141 at once") {
  ScratchDir rt;
  RunOptions o;
  o.close_stdout_after = 1 << 20;  // as `head -c 1M` would
  o.timeout = std::chrono::seconds(120);  // today's code never ends: fail instead of waiting 10 min
  auto r = faultbox_exec(rt, {"--", "yes"}, o);
  INFO(r.err);
  CHECK(r.status.shell_code() == 128 + SIGPIPE);
  CHECK(r.seconds_after_stdout_closed >= 0);
  CHECK(r.seconds_after_stdout_closed < 5);
  require_no_leftovers(rt);
}

TEST_CASE("a 64 MiB stream from the guest arrives byte-exact with no sequence gaps") {
  ScratchDir rt;
  auto r = faultbox_exec(rt, {"--memory", "512", "--stats", "--", "sh", "-c",
                              "dd if=/dev/urandom of=/tmp/r bs=1M count=64 2>/dev/null && sha256sum /tmp/r >&2 && "
                              "cat /tmp/r"});
  INFO(r.err.substr(0, 4000));
  REQUIRE(r.status.code == 0);
  CHECK(r.out.size() == 64u << 20);
  std::smatch m;
  std::regex sum_line("(^|\n)([0-9a-f]{64})  /tmp/r\n");
  REQUIRE(std::regex_search(r.err, m, sum_line));
  CHECK(sha256_of(r.out) == m[2].str());
  CHECK_THAT(r.err, Catch::Contains(", 0 seq gaps,"));
  CHECK_THAT(r.err, Catch::Contains("67108864 stdout bytes"));
}

TEST_CASE("the guest reports every fault-injection interface of the faultbox kernel") {
  ScratchDir rt;
  auto r = faultbox_exec(rt, {"--", "sh", "-c",
                              "ls /sys/kernel/debug; grep -E '^(should_failslab|should_fail_bio|"
                              "should_fail_alloc_page|__filemap_add_folio)\\s' "
                              "/sys/kernel/debug/fail_function/injectable"});
  INFO(r.err);
  REQUIRE(r.status.code == 0);
  for (const char* d : {"failslab", "fail_page_alloc", "fail_make_request", "fail_io_timeout", "fail_futex",
                        "fail_usercopy", "fail_function", "provoke-crash", "tracing"})
    CHECK_THAT(r.out, Catch::Contains(std::string(d) + "\n"));
  CHECK_THAT(r.out, Catch::Contains("should_failslab\tERRNO"));
  CHECK_THAT(r.out, Catch::Contains("should_fail_alloc_page\tTRUE"));
  CHECK_THAT(r.out, Catch::Contains("should_fail_bio\tERRNO"));
  CHECK_THAT(r.out, Catch::Contains("__filemap_add_folio\tERRNO"));
}

TEST_CASE("a fault armed inside the VM fails only the marked task (failslab, task-filter)") {
  // The smallest real fault: failslab with task-filter, armed for one shell only. The
  // marked shell's mkdir fails with ENOMEM; an unmarked sibling's does not.
  ScratchDir rt;
  auto r = faultbox_exec(
      rt, {"--", "sh", "-c",
           "cd /sys/kernel/debug/failslab && echo Y > task-filter && echo 100 > probability && "
           "echo -1 > times && echo N > ignore-gfp-wait && echo 0 > verbose; "
           "sh -c 'echo 1 > /proc/self/make-it-fail; mkdir /tmp/marked' 2>&1; echo marked=$?; "
           "mkdir /tmp/unmarked; echo unmarked=$?"});
  INFO(r.err);
  REQUIRE(r.status.code == 0);
  CHECK_THAT(r.out, Catch::Contains("Cannot allocate memory"));
  CHECK_THAT(r.out, Catch::Contains("marked=1"));
  CHECK_THAT(r.out, Catch::Contains("unmarked=0"));
}

TEST_CASE("exec with --include brings a dynamic host tool with its libraries into the guest") {
  ScratchDir rt;
  auto r = faultbox_exec(rt, {"--include", "/usr/sbin/dmsetup", "--", "dmsetup", "targets"});
  INFO(r.err);
  REQUIRE(r.status.code == 0);
  // the kernel's device-mapper answers through the included binary and its libdevmapper
  CHECK_THAT(r.out, Catch::Contains("dust"));
  CHECK_THAT(r.out, Catch::Contains("flakey"));
}

// A helper script built into a fresh dir under the host's /tmp, included, and run in the guest
// from the same path, on the given root; /tmp must still be a tmpfs anyone may write to.
static void check_include_from_tmp_runs(const std::vector<std::string>& root_args) {
  ScratchDir rt;
  ScratchDir helper_dir;  // mkdtemp under /tmp
  REQUIRE(helper_dir.path().string().rfind("/tmp/", 0) == 0);
  auto helper = helper_dir.path() / "helper";
  REQUIRE(write_file_atomic(helper, "#!/bin/sh\necho \"helper ran as $0 with $1\"\n", 0755));
  std::vector<std::string> args = root_args;
  args.insert(args.end(), {"--include", helper.string(), "--", "sh", "-c",
                           helper.string() + " arg1 && grep -c '^tmpfs /tmp tmpfs ' /proc/mounts && stat -c %a /tmp && "
                                             "touch /tmp/written && echo writable"});
  auto r = faultbox_exec(rt, args);
  INFO(r.err);
  CHECK(r.status.code == 0);
  CHECK(r.out == "helper ran as " + helper.string() + " with arg1\n1\n1777\nwritable\n");
  require_no_leftovers(rt);
}

TEST_CASE("exec --include of a file under /tmp runs it in the guest from the same path (initramfs root)") {
  check_include_from_tmp_runs({});
}

TEST_CASE("exec --include of a file under /tmp runs it in the guest from the same path (disk root)", "[rootfs]") {
  check_include_from_tmp_runs({"--root", "disk"});
}

TEST_CASE("list-faults prints the booted kernel's fault interfaces and injectable functions with their types") {
  ScratchDir rt;
  auto r = faultbox_in(rt, "list-faults", {});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  CHECK_THAT(r.out, Catch::Contains("fault interfaces ("));
  CHECK_THAT(r.out, Catch::Contains("\n  fail_usercopy\n"));
  CHECK_THAT(r.out, Catch::Contains("\n  fail_nth\n"));
  auto js = faultbox_in(rt, "list-faults", {"--json"});
  REQUIRE(js.status.code == 0);
  auto j = nlohmann::json::parse(js.out);
  std::map<std::string, std::string> types;
  for (auto& i : j["injectable"]) types[i["function"]] = i["type"];
  CHECK(types["should_failslab"] == "ERRNO");
  CHECK(types["should_fail_alloc_page"] == "TRUE");
  CHECK(types["should_fail_bio"] == "ERRNO");
  CHECK(types.size() > 100);
  CHECK(types.count("vfs_read") == 0);
  require_no_leftovers(rt);
}
