// The remote path end to end through the CLI, as a user runs it: `faultbox run --connect
// qemu+ssh://...` against the tests' own daemon behind their own sshd. Kernel and boot image go
// up into the faultbox pool through the ssh connection (once: the second run sends nothing),
// the agent's ports and the console cross the same connection as channel streams, and the
// verdict and fired counts are the qemu backend's. A refused ssh key is one line, exit 5.
#include "orchestrator/core/cache.h"
#include "orchestrator/vm/session.h"
#include "tests/remote/remote_fixture.h"
#include "tests/vm/vm_support.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <sys/stat.h>

namespace fs = std::filesystem;
using namespace fb;
using namespace fb::test;

namespace {

// The pool's files on the "remote" host, with their modification times: an upload rewrites one.
std::map<std::string, std::int64_t> pool_files(const Remote& r) {
  std::map<std::string, std::int64_t> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(r.daemon->var_lib() / "faultbox", ec)) {
    struct stat st {};
    if (stat(e.path().c_str(), &st) == 0)
      out[e.path().filename().string()] = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  }
  return out;
}

// What the pool's files hold on the host's disk (sparse files count their data only).
std::uint64_t pool_data_bytes(const Remote& r) {
  std::uint64_t n = 0;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(r.daemon->var_lib() / "faultbox", ec)) {
    struct stat st {};
    if (stat(e.path().c_str(), &st) == 0) n += static_cast<std::uint64_t>(st.st_blocks) * 512;
  }
  return n;
}

std::size_t count_prefixed(const std::map<std::string, std::int64_t>& files, const std::string& prefix,
                           const std::string& suffix) {
  std::size_t n = 0;
  for (auto& [name, _] : files)
    if (name.rfind(prefix, 0) == 0 && name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      ++n;
  return n;
}

struct CliRun {
  Run run;
  nlohmann::json json;
  double seconds = 0;
};

// faultbox run on the real kernel and image cache (the remote fixture gave the tests' own
// process a scratch cache, for the content hashes of its storage cases).
CliRun faultbox_run(const Remote& r, const ScratchDir& rt, const std::string& example, std::vector<std::string> extra) {
  auto json_path = (rt.path() / "report.json").string();
  fs::remove(json_path);
  std::vector<std::string> args = {source(example), "--json", json_path};
  args.insert(args.end(), extra.begin(), extra.end());
  RunOptions o;
  o.env["FAULTBOX_CACHE_DIR"] = r.user_cache.string();
  auto t0 = std::chrono::steady_clock::now();
  CliRun out{faultbox_in(rt, "run", args, o), {}, 0};
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (auto text = read_file(json_path); text.ok()) out.json = nlohmann::json::parse(*text);
  return out;
}

void same_results(const nlohmann::json& remote_json, const nlohmann::json& qemu_json) {
  CHECK(remote_json["verdict"] == qemu_json["verdict"]);
  CHECK(remote_json["backend"] == "libvirt");
  REQUIRE(remote_json["faults"].size() == qemu_json["faults"].size());
  for (std::size_t i = 0; i < remote_json["faults"].size(); ++i)
    CHECK(remote_json["faults"][i]["fired"] == qemu_json["faults"][i]["fired"]);
  REQUIRE(remote_json["steps"].size() == qemu_json["steps"].size());
  for (std::size_t i = 0; i < remote_json["steps"].size(); ++i)
    CHECK(remote_json["steps"][i]["exit_code"] == qemu_json["steps"][i]["exit_code"]);
}

}  // namespace

TEST_CASE("faultbox run --connect qemu+ssh:// runs an example as the qemu backend does, uploading once", "[boot]") {
  Remote& r = remote();
  {
    set_cache_root(r.user_cache);
    auto kernel = find_kernel("");
    set_cache_root({});
    if (!kernel) FAIL(kernel.error().message);
    if (!*kernel) skip("no cached faultbox kernel: run `faultbox kernel build` first");
  }
  ScratchDir rt;
  const std::string example = "examples/failslab-one-task.toml";
  auto q = faultbox_run(r, rt, example, {});
  INFO(q.run.out << q.run.err);
  REQUIRE(q.json.is_object());
  CHECK(q.json["verdict"] == "pass");

  const auto before = pool_files(r);
  auto first = faultbox_run(r, rt, example, {"--connect", r.ssh_uri});
  INFO(first.run.out << first.run.err);
  CHECK(first.run.status.code == 0);
  REQUIRE(first.json.is_object());
  same_results(first.json, q.json);
  const auto after_first = pool_files(r);
  // Kernel and initrd, each a finished input (its .done marker); no scratch volume is left.
  CHECK(count_prefixed(after_first, "faultbox-input-", ".done") == count_prefixed(before, "faultbox-input-", ".done") + 2);
  CHECK(count_prefixed(after_first, "faultbox-scratch-", "") == 0);
  WARN("qemu+ssh run (first, uploads kernel + initrd: " << pool_data_bytes(r) << " bytes in the pool): " << first.seconds << " s; qemu: "
                                                                                  << q.seconds << " s");

  // The second run sends nothing: the pool holds the same files, none rewritten.
  auto second = faultbox_run(r, rt, example, {"--connect", r.ssh_uri});
  INFO(second.run.out << second.run.err);
  CHECK(second.run.status.code == 0);
  REQUIRE(second.json.is_object());
  same_results(second.json, q.json);
  CHECK(pool_files(r) == after_first);
  WARN("qemu+ssh run (second, nothing uploaded): " << second.seconds << " s");

  // Two slots on the one daemon, one through its local socket and one through ssh: 2 scenarios
  // x 2 repeats, all passing, and the ssh slot's runs send nothing either.
  auto batch_json = (rt.path() / "batch.json").string();
  RunOptions o;
  o.env["FAULTBOX_CACHE_DIR"] = r.user_cache.string();
  auto t0 = std::chrono::steady_clock::now();
  auto batch = faultbox_in(rt, "run",
                           {source(example), source("examples/fail-page-alloc-fork-enomem.toml"), "--connect", r.local_uri,
                            "--connect", r.ssh_uri, "--repeat", "2", "--json", batch_json},
                           o);
  INFO(batch.out << batch.err);
  CHECK(batch.status.code == 0);
  auto merged = read_file(batch_json);
  REQUIRE(merged.ok());
  auto bj = nlohmann::json::parse(*merged);
  CHECK(bj["runs"].size() == 4);
  std::set<std::string> slots;
  for (auto& run : bj["runs"]) {
    CHECK(run["verdict"] == "pass");
    slots.insert(run["slot"].dump());
  }
  CHECK(slots.size() == 2);
  CHECK(pool_files(r) == after_first);
  WARN("run A B --connect local --connect qemu+ssh --repeat 2: "
       << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s");
  CHECK(r.daemon->domains().empty());
  require_no_leftovers(rt);
}

TEST_CASE("a disk goes up to the remote host and comes back for the inspection", "[boot]") {
  Remote& r = remote();
  ScratchDir rt;
  // S2: make-it-fail on one partition; the inspection after the run names the lost file.
  const std::string example = "examples/partition-fails-sibling-survives.toml";
  const auto bytes_before = pool_data_bytes(r);
  auto run = faultbox_run(r, rt, example, {"--connect", r.ssh_uri});
  INFO(run.run.out << run.run.err);
  if (run.run.err.find("no cached faultbox kernel") != std::string::npos) skip("no cached faultbox kernel");
  CHECK(run.run.status.code == 0);
  REQUIRE(run.json.is_object());
  CHECK(run.json["verdict"] == "pass");
  CHECK(run.json["backend"] == "libvirt");
  CHECK_FALSE(run.json["disks"].empty());  // inspected, from the disk that came back
  CHECK(count_prefixed(pool_files(r), "faultbox-scratch-", "") == 0);
  CHECK(r.daemon->domains().empty());
  WARN("qemu+ssh run with a disk up and back: " << run.seconds << " s; the disk's base left in the pool: "
                                                 << pool_data_bytes(r) - bytes_before << " bytes");
  require_no_leftovers(rt);
}

TEST_CASE("a refused ssh key through the CLI: one line, exit 5, nothing left", "[boot]") {
  Remote& r = remote();
  ScratchDir rt;
  const auto before = pool_files(r);
  auto run = faultbox_run(r, rt, "examples/failslab-one-task.toml",
                          {"--connect", r.sshd->libvirt_uri(r.daemon->socket(), r.sshd->refused_key())});
  INFO(run.run.out << run.run.err);
  CHECK(run.run.status.code == 5);
  CHECK_THAT(run.run.err, Catch::StartsWith("faultbox: libvirt: cannot connect to qemu+ssh://"));
  CHECK(std::count(run.run.err.begin(), run.run.err.end(), '\n') == 1);
  CHECK_FALSE(run.json.is_object());  // no report of a run that never started
  CHECK(pool_files(r) == before);
  CHECK(r.daemon->domains().empty());
  require_no_leftovers(rt);
}
