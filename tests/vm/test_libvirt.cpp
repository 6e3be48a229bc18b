// The libvirt backend on a real daemon of the tests' own (tests/support/libvirtd.h), shared by
// every case of this binary, which CTest runs as one test so the daemon starts once. Not root:
// the binary exits 77, which CTest reports as skipped.
#include "tests/support/libvirtd.h"
#include "tests/vm/vm_support.h"

#include <csignal>
#include <cstdlib>
#include <iostream>

using namespace fb;
using namespace fb::test;

namespace {

const PrivateLibvirtd& daemon() {
  std::string why;
  auto* d = PrivateLibvirtd::shared(why);
  if (!d && geteuid() != 0) {
    std::cerr << "SKIP: " << why << "\n";
    std::exit(77);
  }
  if (!d) FAIL(why);
  return *d;
}

std::vector<std::string> on_libvirt(std::vector<std::string> args) {
  args.insert(args.begin(), {"--backend", "libvirt", "--connect", daemon().uri()});
  return args;
}

Report run_example_on(const ScratchDir& rt, const std::string& rel, std::vector<std::string> backend_args) {
  auto json_path = (rt.path() / "report.json").string();
  std::vector<std::string> args = {source(rel), "--json", json_path};
  args.insert(args.end(), backend_args.begin(), backend_args.end());
  std::filesystem::remove(json_path);
  Report r{faultbox_in(rt, "run", args), {}};
  auto text = read_file(json_path);
  if (text.ok()) r.json = nlohmann::json::parse(*text);
  return r;
}

// Stopped ("dead") owner: a process that ran on this boot and is gone, so its pid is free.
long dead_pid() {
  auto r = run({"sh", "-c", "echo $$"});
  return std::stol(r.out);
}

}  // namespace

TEST_CASE("libvirt: an example passes with the same verdict, fired counts and stacks as on qemu") {
  ScratchDir rt;
  const std::string example = "examples/failslab-one-task.toml";
  auto q = run_example_on(rt, example, {});
  INFO(q.run.out << q.run.err);
  REQUIRE(q.json.is_object());
  std::vector<std::string> listed;
  RunOptions o;
  o.act_on_stderr = "faultbox: vm: up";
  o.act = [&](pid_t) { listed = daemon().domains(); };
  auto json_path = (rt.path() / "lv.json").string();
  auto l = faultbox_in(rt, "run", {source(example), "--json", json_path, "--backend", "libvirt", "--connect", daemon().uri()}, o);
  INFO(l.out << l.err);
  CHECK(l.status.code == 0);
  auto lj = nlohmann::json::parse(*read_file(json_path));
  CHECK(lj["verdict"] == q.json["verdict"]);
  CHECK(lj["verdict"] == "pass");
  CHECK(q.json["backend"] == "qemu");
  CHECK(lj["backend"] == "libvirt");
  REQUIRE(lj["faults"].size() == q.json["faults"].size());
  for (std::size_t i = 0; i < lj["faults"].size(); ++i) {
    CHECK(lj["faults"][i]["fired"] == q.json["faults"][i]["fired"]);
    CHECK(lj["faults"][i]["stacks"] == q.json["faults"][i]["stacks"]);
  }
  for (std::size_t i = 0; i < lj["steps"].size(); ++i) CHECK(lj["steps"][i]["exit_code"] == q.json["steps"][i]["exit_code"]);
  // While it ran, `virsh list` named it after the scenario and this faultbox process.
  REQUIRE(listed.size() == 1);
  CHECK_THAT(listed[0], Catch::StartsWith("faultbox-failslab-one-task-"));
  CHECK(daemon().domains().empty());
  require_no_leftovers(rt);
}

TEST_CASE("libvirt: a guest panic is kernel-crash with its title within a second of the crashed event") {
  ScratchDir rt;
  auto r = faultbox_in(rt, "-v", {"exec", "--backend", "libvirt", "--connect", daemon().uri(), "--", "sh", "-c",
                                  "echo before; sleep 0.3; echo c > /proc/sysrq-trigger"});
  INFO(r.err);
  CHECK(r.status.code == 3);
  CHECK(r.out == "before\n");
  CHECK_THAT(r.err, Catch::Contains("kernel crash while running sh: kernel panic: sysrq triggered crash"));
  std::optional<std::chrono::steady_clock::time_point> crashed, verdict;
  std::string err;
  for (auto& c : r.chunks) {
    if (c.fd != 2) continue;
    err += c.data;
    if (!crashed && err.find("event: crashed") != std::string::npos) crashed = c.at;
    if (!verdict && err.find("kernel crash while running") != std::string::npos) verdict = c.at;
  }
  REQUIRE(crashed);
  REQUIRE(verdict);
  CHECK(std::chrono::duration<double>(*verdict - *crashed).count() < 1.0);
  CHECK(daemon().domains().empty());
  require_no_leftovers(rt);
}

TEST_CASE("libvirt: a wedged guest is a hang with sysrq evidence pressed through virDomainSendKey") {
  ScratchDir rt;
  auto r = faultbox_in(rt, "run", {source("tests/data/scenarios/vm/guest-wedged.toml"), "--backend", "libvirt", "--connect", daemon().uri()});
  INFO(r.out << r.err);
  auto ev = require_wedged_guest_hang(r);
  CHECK(nlohmann::json::parse(*read_file(ev / "report.json"))["backend"] == "libvirt");
  CHECK(daemon().domains().empty());
  require_no_leftovers(rt);
}

TEST_CASE("libvirt: SIGINT leaves no domain at once, and after a SIGKILL the next start leaves none, orphans included") {
  ScratchDir rt;
  auto kill_mid_step = [&](int sig) {
    RunOptions o;
    o.act_on_stderr = "faultbox: vm: up";
    o.act = [sig](pid_t pid) { kill(pid, sig); };
    return faultbox_exec(rt, on_libvirt({"--", "sleep", "120"}), o);
  };
  auto i = kill_mid_step(SIGINT);
  INFO(i.err);
  CHECK(i.status.shell_code() == 128 + SIGINT);
  CHECK(daemon().domains().empty());

  auto k = kill_mid_step(SIGKILL);
  CHECK(k.status.signal == SIGKILL);
  // A domain an earlier faultbox left running (as a daemon that outlived a lost connection
  // would keep it): named as faultbox names them, owned by a process that is gone.
  auto boot = read_file("/proc/sys/kernel/random/boot_id");
  REQUIRE(boot.ok());
  std::string boot_id = boot->substr(0, boot->find('\n'));
  long pid = dead_pid();
  std::string name = "faultbox-stale-" + std::to_string(pid) + "-1";
  auto kernel = run({faultbox_binary(), "-q", "kernel", "path"});
  std::string xml = "<domain type='qemu'><name>" + name + "</name><metadata><fb:owner xmlns:fb='urn:faultbox:owner:1' pid='" +
                    std::to_string(pid) + "' start_ticks='1' boot_id='" + boot_id +
                    "'/></metadata><memory unit='MiB'>64</memory><os><type arch='x86_64' machine='pc'>hvm</type><kernel>" +
                    kernel.out.substr(0, kernel.out.find('\n')) + "</kernel></os><devices><memballoon model='none'/></devices></domain>";
  auto xml_file = rt.path() / "stale.xml";
  REQUIRE(write_file_atomic(xml_file, xml).ok());
  REQUIRE(run({"virsh", "-q", "-c", daemon().uri(), "create", xml_file.string(), "--paused"}).status.code == 0);
  REQUIRE(daemon().domains() == std::vector<std::string>{name});

  auto next = faultbox_exec(rt, on_libvirt({"--", "true"}));
  INFO(next.err);
  CHECK(next.status.code == 0);
  CHECK_THAT(next.err, Catch::Contains("destroyed domain " + name + " left by faultbox process " + std::to_string(pid)));
  CHECK(daemon().domains().empty());
  require_no_leftovers(rt);
}

TEST_CASE("libvirt: doctor says the daemon answers, its versions, and that a domain boots to the agent") {
  ScratchDir rt;
  auto r = faultbox_in(rt, "doctor", {"--no-guestfs", "--backend", "libvirt", "--connect", daemon().uri()});
  INFO(r.out << r.err);
  CHECK(r.status.code == 0);
  CHECK_THAT(r.out, Catch::Contains("libvirt: " + daemon().uri() + " answers: libvirt 9."));
  CHECK_THAT(r.out, Catch::Contains("booted to the agent in"));
  CHECK(daemon().domains().empty());
}

TEST_CASE("libvirt: a missing daemon or a wrong URI is one line and exit 5, with nothing left") {
  ScratchDir rt;
  for (std::string uri : {"qemu:///system?socket=/nonexistent/libvirt-sock", "bogus+unix:///nowhere"}) {
    for (auto cmd : {std::vector<std::string>{"exec", "--connect", uri, "--", "true"},
                     std::vector<std::string>{"run", source("examples/failslab-one-task.toml"), "--connect", uri}}) {
      auto r = faultbox_in(rt, cmd[0], std::vector<std::string>(cmd.begin() + 1, cmd.end()));
      INFO(cmd[0] << " " << uri << ": " << r.out << r.err);
      CHECK(r.status.code == 5);
      CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
      CHECK_THAT(r.err, Catch::StartsWith("faultbox: libvirt: cannot connect to " + uri));
      CHECK_THAT(r.out, !Catch::Contains("evidence:"));
    }
  }
  auto d = faultbox_in(rt, "doctor", {"--no-guestfs", "--connect", "qemu:///system?socket=/nonexistent/libvirt-sock"});
  CHECK(d.status.code == 5);
  CHECK_THAT(d.out, Catch::Contains("libvirt: FAILED: libvirt: cannot connect to"));
  require_no_leftovers(rt);
}
