// The debugfs fault attributes no other test arms (fail_page_alloc, fail_futex, fail_io_timeout)
// and null_blk's requeue_every, each through its example under `faultbox run --json`: the
// verdict, an exact or lower-bounded fired count from the kernel's own `times` countdown (or
// tracefs), and what the step's workload saw.
#include "common/files.h"
#include "tests/vm/vm_support.h"

#include <nlohmann/json.hpp>

using namespace fb;
using namespace fb::test;

namespace {

std::string text(const nlohmann::json& step, const char* stream) { return step[stream].get<std::string>(); }

}  // namespace

TEST_CASE("debugfs faults: fail_page_alloc fails the marked shell's fork (order-2 stack) with ENOMEM, the sibling forks") {
  ScratchDir rt;
  auto r = run_example(rt, "examples/fail-page-alloc-fork-enomem.toml");
  INFO(r.run.out << r.run.err);
  REQUIRE(r.run.status.code == 0);
  CHECK(r.json["verdict"] == "pass");
  auto& marked = step(r.json, "marked");
  CHECK(marked["exit_code"] == 2);
  CHECK_THAT(text(marked, "stdout"), Catch::Contains("marked, forking"));
  CHECK_THAT(text(marked, "stdout"), !Catch::Contains("child ran"));
  CHECK_THAT(text(marked, "stderr"), Catch::Contains("can't fork: Cannot allocate memory"));
  auto& sibling = step(r.json, "sibling");
  CHECK(sibling["exit_code"] == 0);
  CHECK_THAT(text(sibling, "stdout"), Catch::Contains("child ran"));
  auto& f = fault(r.json, "pages");
  CHECK(f["fired"].get<int>() >= 1);
  REQUIRE(f["stacks"].size() >= 1);
  CHECK_THAT(f["stacks"].dump(), Catch::Contains("__alloc_pages <- copy_process <- kernel_clone"));
  // The marked step ended on its own: no page fault was left retrying a failed allocation.
  CHECK(marked["seconds"].get<double>() < 30.0);
  require_no_leftovers(rt);
}

TEST_CASE("debugfs faults: fail_futex fails a shared FUTEX_WAIT with EFAULT at once, and ignore_private lets a private one time out") {
  ScratchDir rt;
  auto r = run_example(rt, "examples/fail-futex-wait-efault.toml");
  INFO(r.run.out << r.run.err);
  REQUIRE(r.run.status.code == 0);
  CHECK(r.json["verdict"] == "pass");
  auto& shared = step(r.json, "shared-wait");
  CHECK(shared["exit_code"] == 1);
  CHECK_THAT(text(shared, "stdout"), Catch::Contains("futex_wait (shared): returned -1, errno EFAULT"));
  auto& priv = step(r.json, "private-wait");
  CHECK(priv["exit_code"] == 0);
  CHECK_THAT(text(priv, "stdout"), Catch::Contains("futex_wait (private): returned -1, errno ETIMEDOUT"));
  auto& f = fault(r.json, "futex");
  // One injected failure: the shared wait's first site (sys_futex, before the timeout is read);
  // the private wait is skipped by ignore_private.
  CHECK(f["fired"] == 1);
  REQUIRE(f["stacks"].size() == 1);
  CHECK_THAT(f["stacks"][0].get<std::string>(), Catch::Contains("__x64_sys_futex"));
  require_no_leftovers(rt);
}

TEST_CASE("debugfs faults: fail_io_timeout with task_filter = false drops an ide completion, the read gets EIO after the SCSI timeout") {
  ScratchDir rt;
  auto r = run_example(rt, "examples/fail-io-timeout-ide-eio.toml");
  INFO(r.run.out << r.run.err);
  REQUIRE(r.run.status.code == 0);
  CHECK(r.json["verdict"] == "pass");
  auto& s = step(r.json, "timed-out");
  CHECK_THAT(text(s, "stdout"), Catch::Contains("read exit 1"));
  CHECK_THAT(text(s, "stderr"), Catch::Contains("Input/output error"));
  // The SCSI midlayer counted the timeout, and the read took at least the 1 s command timeout.
  CHECK_THAT(text(s, "stdout"), Catch::Matches("(.|\n)*SCSI command timeouts on sd[a-z]+: 0x1\n(.|\n)*"));
  CHECK(s["seconds"].get<double>() >= 1.0);
  auto& f = fault(r.json, "timeout");
  CHECK(f["fired"] == 1);  // times = 1: exactly the step's read
  // Where it fired: in the disk's interrupt handler (libata's), not in the step's task.
  REQUIRE(f["stacks"].size() == 1);
  CHECK_THAT(f["stacks"][0].get<std::string>(), Catch::StartsWith("scsi_done_internal <- ata_scsi_qc_complete"));
  auto kmsg = r.json["kmsg"].get<std::string>();
  CHECK_THAT(kmsg, Catch::Contains("<IRQ>"));
  CHECK_THAT(kmsg, Catch::Contains("I/O error, dev sd"));
  CHECK_THAT(text(step(r.json, "after"), "stdout"), Catch::Contains("read ok"));
  require_no_leftovers(rt);
}

TEST_CASE("debugfs faults: fail_io_timeout with task_filter = true never fires (completion in interrupt context), so the run fails") {
  ScratchDir rt;
  auto r = run_example(rt, "tests/data/scenarios/vm/fail-io-timeout-task-filtered.toml");
  INFO(r.run.out << r.run.err);
  REQUIRE(r.run.status.code == 1);
  CHECK(r.json["verdict"] == "fail");
  auto& s = step(r.json, "read");
  CHECK(s["exit_code"] == 0);
  CHECK_THAT(text(s, "stdout"), Catch::Contains("read ok"));
  CHECK_THAT(text(s, "stdout"), Catch::Matches("(.|\n)*SCSI command timeouts on sd[a-z]+: 0x0\n(.|\n)*"));
  CHECK(fault(r.json, "timeout")["fired"] == 0);
  CHECK_THAT(r.run.out, Catch::Contains("expectation failed: fault timeout was armed for 1 step(s) and never fired"));
  require_no_leftovers(rt);
}

TEST_CASE("debugfs faults: null_blk requeue_every requeues requests and every read and write still completes") {
  ScratchDir rt;
  auto r = run_example(rt, "examples/null-blk-requeues.toml");
  INFO(r.run.out << r.run.err);
  REQUIRE(r.run.status.code == 0);
  CHECK(r.json["verdict"] == "pass");
  auto out = text(step(r.json, "io"), "stdout");
  CHECK_THAT(out, Catch::Contains("8 of 8 reads ok"));
  CHECK_THAT(out, Catch::Contains("written through requeues"));
  CHECK_THAT(out, !Catch::Contains("write failed"));
  auto& f = fault(r.json, "requeue");
  // Each of the step's 10 requests (1 write, 8 reads, 1 read-back) requeued once: with interval
  // 2 the device's partition scan took the 1st call, each request's first dispatch an even one
  // (requeued) and its second dispatch the next odd one (served).
  CHECK(f["details"]["requeued"] == 10);
  CHECK(f["fired"] == f["details"]["requeued"]);  // nothing failed: every fired is a requeue
  CHECK_THAT(r.json["kmsg"].get<std::string>(), Catch::Contains("null_blk.requeue=2,100,0,-1"));
  require_no_leftovers(rt);
}
