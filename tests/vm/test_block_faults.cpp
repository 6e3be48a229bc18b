// Block-device faults (dm-dust, dm-flakey, scsi_debug, null_blk) end to end: each example runs
// under `faultbox run`, and the report must show the kernel-visible behaviour and exact counts.
#include "common/files.h"
#include "tests/vm/vm_support.h"

#include <nlohmann/json.hpp>

using namespace fb;
using namespace fb::test;


TEST_CASE("block: dm_dust fails reads of listed blocks only, and a write remaps a bad block (S1)") {
  ScratchDir rt;
  auto r = run_example(rt, "examples/dm-dust-bad-blocks.toml");
  INFO(r.run.out << r.run.err);
  REQUIRE(r.run.status.code == 0);
  CHECK(r.json["verdict"] == "pass");
  auto& s = step(r.json, "bad-blocks");
  CHECK_THAT(s["stdout"].get<std::string>(), Catch::Contains("block 999 read ok"));
  CHECK_THAT(s["stdout"].get<std::string>(), Catch::Contains("block 1000 read exit 1"));
  CHECK_THAT(s["stdout"].get<std::string>(), Catch::Contains("block 1002 reads back after the write"));
  CHECK_THAT(s["stderr"].get<std::string>(), Catch::Contains("Input/output error"));
  auto& f = fault(r.json, "dust");
  // Two failed reads (blocks 1000 and 1002), nothing else: the count is exact.
  CHECK(f["fired"] == 2);
  CHECK(f["details"]["bad_blocks"] == nlohmann::json::array({1000, 1002}));
  // The write to block 1002 took it off the list; block 1000 stays bad.
  CHECK(f["details"]["bad_blocks_left"] == nlohmann::json::array({1000}));
  CHECK_THAT(r.run.out, Catch::Contains("bad_blocks_left: [1000]"));
  // The stack tracefs recorded with the failed bio: dm-dust kills it while it is submitted.
  REQUIRE(f["stacks"].size() >= 1);
  CHECK_THAT(f["stacks"][0].get<std::string>(), Catch::StartsWith("bio_endio <- dm_submit_bio"));
  CHECK_THAT(step(r.json, "after")["stdout"].get<std::string>(), Catch::Contains("write persisted"));
  CHECK_THAT(r.json["kmsg"].get<std::string>(), Catch::Contains("block 1002 removed from badblocklist by write"));
  CHECK_THAT(r.json["kmsg"].get<std::string>(), Catch::Contains("badblock added at block 1000"));
  require_no_leftovers(rt);
}

TEST_CASE("block: dm_flakey drop_writes acknowledges writes that never reach the disk, error_writes fails them (S9)") {
  ScratchDir rt;
  auto r = run_example(rt, "examples/dm-flakey-drop-writes.toml");
  INFO(r.run.out << r.run.err);
  REQUIRE(r.run.status.code == 0);
  CHECK(r.json["verdict"] == "pass");
  CHECK_THAT(step(r.json, "dropped")["stdout"].get<std::string>(), Catch::Contains("write returned success"));
  CHECK_THAT(step(r.json, "after")["stdout"].get<std::string>(), Catch::Contains("the write never reached the disk"));
  auto& f = fault(r.json, "flakey");
  // One 512-byte O_DIRECT write: one bio dropped.
  CHECK(f["fired"] == 1);
  CHECK_THAT(f["details"]["table"].get<std::string>(), Catch::Contains("flakey /dev/vd"));
  CHECK_THAT(f["details"]["table"].get<std::string>(), Catch::EndsWith(" 0 0 1 1 drop_writes"));
  REQUIRE(f["stacks"].size() >= 1);
  CHECK_THAT(f["stacks"][0].get<std::string>(), Catch::StartsWith("__map_bio <- dm_submit_bio"));
  // error_writes: a buffered write fails at fsync, a direct write at once; reads still work.
  auto out = step(r.json, "error-writes")["stdout"].get<std::string>();
  CHECK_THAT(out, Catch::Contains("buffered+fsync exit 1"));
  CHECK_THAT(out, Catch::Contains("direct exit 1"));
  CHECK_THAT(out, Catch::Contains("reads still work"));
  CHECK_THAT(step(r.json, "error-writes")["stderr"].get<std::string>(), Catch::Contains("fsync failed"));
  // At least the write-back bio(s) and the direct bio; reads are never counted.
  CHECK(fault(r.json, "failing")["fired"].get<int>() >= 2);
  CHECK(fault(r.json, "failing")["details"]["dropped_or_failed_bios"] == fault(r.json, "failing")["fired"]);
  // corrupt_bio_byte on writes: the first byte of the written block reached the disk as 'A'.
  CHECK_THAT(step(r.json, "corrupt-writes")["stdout"].get<std::string>(), Catch::Contains("on disk: Ayz"));
  CHECK(fault(r.json, "corrupting")["fired"] == 1);
  CHECK(fault(r.json, "corrupting")["details"]["corrupt_bio_data_calls"] == 1);
  CHECK_THAT(fault(r.json, "corrupting")["stacks"][0].get<std::string>(), Catch::StartsWith("corrupt_bio_data <- flakey_map"));
  require_no_leftovers(rt);
}

TEST_CASE("block: null_blk bad sectors fail reads and writes, neighbours work, the device goes away") {
  ScratchDir rt;
  auto r = run_example(rt, "examples/null-blk-bad-blocks.toml");
  INFO(r.run.out << r.run.err);
  REQUIRE(r.run.status.code == 0);
  CHECK(r.json["verdict"] == "pass");
  auto out = step(r.json, "io")["stdout"].get<std::string>();
  CHECK_THAT(out, Catch::Contains("sector 99 read ok"));
  CHECK_THAT(out, Catch::Contains("sector 100 read exit 1"));
  CHECK_THAT(out, Catch::Contains("sector 102 write exit 1"));
  CHECK_THAT(out, Catch::Contains("sector 103 write ok"));
  auto& f = fault(r.json, "nullb");
  CHECK(f["fired"] == 2);  // one failed read, one failed write
  REQUIRE(f["stacks"].size() >= 1);
  CHECK_THAT(f["stacks"][0].get<std::string>(), Catch::Contains("null_handle_cmd"));
  CHECK_THAT(f["details"]["bad_blocks"].get<std::string>(), Catch::Contains("100 3"));
  CHECK_THAT(step(r.json, "after")["stdout"].get<std::string>(), Catch::Contains("device and configfs entry removed"));
  CHECK_THAT(r.json["kmsg"].get<std::string>(), Catch::Contains("I/O error, dev fb_nullb, sector 100"));
  require_no_leftovers(rt);
}

TEST_CASE("block: null_blk timeout_every times requests out with ETIMEDOUT, through the boot parameter") {
  ScratchDir rt;
  auto r = run_example(rt, "examples/null-blk-timeouts.toml");
  INFO(r.run.out << r.run.err);
  REQUIRE(r.run.status.code == 0);
  CHECK(r.json["verdict"] == "pass");
  CHECK_THAT(step(r.json, "timeouts")["stderr"].get<std::string>(), Catch::Contains("Connection timed out"));
  auto& f = fault(r.json, "slow");
  // Two reads, every 2nd request of the device (its partition scan was the 1st): one timeout.
  CHECK(f["fired"] == 1);
  CHECK(f["details"]["timed_out"] == 1);
  CHECK_THAT(r.json["kmsg"].get<std::string>(), Catch::Contains("null_blk.timeout=2,100,0,-1"));
  require_no_leftovers(rt);
}

TEST_CASE("block: scsi_debug injects each SCSI error kind, the workload sees it, the report names it (S8)") {
  ScratchDir rt;
  auto r = run_example(rt, "examples/scsi-debug-errors.toml");
  INFO(r.run.out << r.run.err);
  REQUIRE(r.run.status.code == 0);
  CHECK(r.json["verdict"] == "pass");
  CHECK_THAT(step(r.json, "medium-error")["stdout"].get<std::string>(), Catch::Contains("LBA 4660 read exit 1"));
  CHECK_THAT(step(r.json, "transport-error")["stdout"].get<std::string>(), Catch::Contains("LBA 100 read exit 1"));
  CHECK_THAT(step(r.json, "recovered-error")["stdout"].get<std::string>(), Catch::Contains("read ok"));
  for (const char* kind : {"medium_error", "transport_error", "recovered_error", "timeout"}) {
    INFO(kind);
    auto& f = fault(r.json, kind);
    CHECK(f["fired"].get<int>() >= 1);
    CHECK(f["details"]["injecting"].contains(kind));
    CHECK_THAT(r.run.out, Catch::Contains(std::string("injecting: {\"") + kind));
  }
  // The medium error is not retried: one failed command, one failed request.
  CHECK(fault(r.json, "medium_error")["details"]["io_errors"] == 1);
  // Aborted Command is retried by the SCSI layer before the block layer gives up: the first
  // try and 5 retries (SD_MAX_RETRIES) injected, one failed request.
  CHECK(fault(r.json, "transport_error")["fired"] == 6);
  CHECK(fault(r.json, "transport_error")["details"]["io_errors"] == 1);
  // A recovered error is not an I/O error.
  CHECK(fault(r.json, "recovered_error")["details"]["io_errors"] == 0);
  CHECK_THAT(step(r.json, "medium-error")["stderr"].get<std::string>(), Catch::Contains("No data available"));
  CHECK_THAT(r.json["kmsg"].get<std::string>(), Catch::Contains("critical medium error, dev sda, sector 4660"));
  // dev_size_mb = 16 went to the kernel command line: 16 MiB of 512-byte blocks.
  CHECK_THAT(r.json["kmsg"].get<std::string>(), Catch::Contains("scsi_debug.dev_size_mb=16"));
  CHECK_THAT(r.json["kmsg"].get<std::string>(), Catch::Contains("[sda] 32768 512-byte logical blocks"));
  // Injection starts after sd's probe: the kernel's own partition scan is never hit.
  CHECK(r.json["kmsg"].get<std::string>().find("unable to read partition table") == std::string::npos);
  // Timeouts: handled by the SCSI error handler (abort, retry); the reads succeed, late.
  CHECK(fault(r.json, "timeout")["details"]["scsi_timeouts"] == 2);
  CHECK(fault(r.json, "timeout")["fired"] == 2);
  CHECK(fault(r.json, "timeout")["details"]["io_errors"] == 0);
  CHECK(step(r.json, "timeout")["seconds"].get<double>() >= 4.0);  // two 2 s command timeouts
  // Every host was removed again.
  CHECK_THAT(step(r.json, "after")["stdout"].get<std::string>(), Catch::EndsWith("0\n"));
  require_no_leftovers(rt);
}

TEST_CASE("block: dm_dust enable = false keeps the list without failing reads, quiet keeps the log clean") {
  ScratchDir rt;
  auto r = run_example(rt, "tests/data/scenarios/vm/dm-dust-quiet-disabled.toml");
  INFO(r.run.out << r.run.err);
  REQUIRE(r.run.status.code == 0);
  CHECK(r.json["verdict"] == "pass");
  auto& f = fault(r.json, "dust");
  CHECK(f["fired"] == 0);
  CHECK(f["details"]["bad_blocks"] == nlohmann::json::array({1000}));
  CHECK(f["details"]["bad_blocks_left"] == nlohmann::json::array({1000}));
  CHECK_THAT(r.run.out, Catch::Contains("never fired, as may_not_fire allows"));
  // Without quiet this line is there (the S1 test checks it).
  CHECK(r.json["kmsg"].get<std::string>().find("badblock added") == std::string::npos);
  require_no_leftovers(rt);
}

TEST_CASE("block: dm_dust over a partition an earlier step made covers that partition only") {
  ScratchDir rt;
  auto r = run_example(rt, "tests/data/scenarios/vm/dm-dust-partition.toml");
  INFO(r.run.out << r.run.err);
  REQUIRE(r.run.status.code == 0);
  CHECK(r.json["verdict"] == "pass");
  auto out = step(r.json, "io")["stdout"].get<std::string>();
  CHECK_THAT(out, Catch::Contains("size 16384"));  // the 8 MiB partition 1, not the 16 MiB disk
  CHECK_THAT(out, Catch::Contains("dust block 100 exit 1"));
  CHECK_THAT(out, Catch::Contains("partition 2 block 100 exit 0"));
  auto& f = fault(r.json, "dust");
  CHECK(f["fired"] == 1);
  CHECK_THAT(f["details"]["table"].get<std::string>(), Catch::Matches("0 16384 dust /dev/vd[a-z]1 0 512"));
  require_no_leftovers(rt);
}

TEST_CASE("block: a dm device a step left open gets a deferred remove and goes away when closed") {
  ScratchDir rt;
  auto r = run_example(rt, "tests/data/scenarios/vm/dm-left-open.toml");
  INFO(r.run.out << r.run.err);
  REQUIRE(r.run.status.code == 0);
  CHECK(r.json["verdict"] == "pass");
  CHECK_THAT(fault(r.json, "dust")["details"]["teardown"].get<std::string>(), Catch::StartsWith("deferred: /dev/dm-0"));
  CHECK_FALSE(fault(r.json, "dust")["details"].contains("teardown_error"));
  require_no_leftovers(rt);
}

TEST_CASE("block: a fault on a partition that does not exist is refused with exit 2 and one line") {
  ScratchDir rt;
  auto r = faultbox_in(rt, "run", {source("tests/data/scenarios/vm/dm-dust-bad-target.toml")});
  INFO(r.out << r.err);
  CHECK(r.status.code == 2);
  CHECK_THAT(r.out, Catch::Contains("verdict: usage-error"));
  // One line: where, which fault, why.
  CHECK_THAT(r.out, Catch::Contains("dm-dust-bad-target.toml:8:1: cannot arm fault 'dm_dust': disk 'data' (vd"));
  CHECK_THAT(r.out, Catch::Contains(") has no partition 1\n"));
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 3);  // the error, the verdict, the evidence dir
  CHECK(!evidence_dir_of(r.out).empty());
  CHECK(r.out.find("step never-runs") == std::string::npos);
  require_no_leftovers(rt);
}
