// The pure parts of the block fault modules: kernel knob syntax and kernel replies.
#include "guest-agent/block_fault_params.h"

#include <catch2/catch.hpp>

using namespace fb::agent;

TEST_CASE("dm-dust listbadblocks reply: one block per line, the empty-list sentence, junk ignored") {
  CHECK(parse_dust_block_list("1\n2\n67\n") == std::vector<std::uint64_t>{1, 2, 67});
  CHECK(parse_dust_block_list("No blocks in badblocklist").empty());
  CHECK(parse_dust_block_list("").empty());
  CHECK(parse_dust_block_list("5\n[faultbox: reply truncated]") == std::vector<std::uint64_t>{5});
  CHECK(parse_dust_block_list("  12  \n3x\n") == std::vector<std::uint64_t>{12});
}

TEST_CASE("scsi_debug opts names map to 6.1's SDEBUG_OPT_* bits") {
  auto mask = [](std::vector<std::string> names) { return *scsi_debug_opts_mask(names); };
  CHECK(mask({"medium_error"}) == 0x2);
  CHECK(mask({"timeout", "recovered_error", "transport_error"}) == (0x4 | 0x8 | 0x10));
  CHECK(mask({"host_busy", "cmd_abort", "mac_timeout", "short_transfer"}) == (0x8000 | 0x10000 | 0x80 | 0x100));
  CHECK(mask({}) == 0);
  auto unknown = scsi_debug_opts_mask({"medium_eror"});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message.find("unknown scsi_debug opt 'medium_eror'") != std::string::npos);
  CHECK(unknown.error().message.find("medium_error") != std::string::npos);
}

TEST_CASE("dm-flakey table parameters follow the 6.1 syntax") {
  // The table, or "" with the refusal in `why`.
  std::string why;
  auto table = [&](const FlakeyParams& p) {
    auto t = flakey_table_params(p);
    why = t ? "" : t.error().message;
    return t ? *t : std::string();
  };
  FlakeyParams p;
  p.device = "/dev/vdb";
  CHECK(table(p) == "/dev/vdb 0 0 1");
  p.up_interval = 5;
  p.down_interval = 2;
  p.drop_writes = true;
  CHECK(table(p) == "/dev/vdb 0 5 2 1 drop_writes");
  p.drop_writes = false;
  p.error_writes = true;
  p.corrupt_bio_byte = {32, 0, 1, 0};
  CHECK(table(p) == "/dev/vdb 0 5 2 6 error_writes corrupt_bio_byte 32 r 1 0");
  p.corrupt_bio_byte = {224, 1, 0, 32};
  CHECK(table(p).empty());
  CHECK(why.find("incompatible") != std::string::npos);
  p.error_writes = false;
  CHECK(table(p) == "/dev/vdb 0 5 2 5 corrupt_bio_byte 224 w 0 32");
  p.corrupt_bio_byte = {0, 1, 0, 0};
  CHECK(table(p).empty());
  p.corrupt_bio_byte = {1, 2, 0, 0};
  CHECK(table(p).empty());
  p.corrupt_bio_byte = {1, 0, 256, 0};
  CHECK(table(p).empty());
  p.corrupt_bio_byte = {1, 0};
  CHECK(table(p).empty());
  FlakeyParams never_down;
  never_down.device = "/dev/vdb";
  never_down.down_interval = 0;
  CHECK(table(never_down).empty());
  CHECK(why.find("up_interval + down_interval is 0") != std::string::npos);
}

TEST_CASE("null_blk bad sectors become merged +first-last ranges") {
  CHECK(null_blk_badblock_ranges({102, 100, 101, 7, 100}) == std::vector<std::string>{"+7-7", "+100-102"});
  CHECK(null_blk_badblock_ranges({}).empty());
}

TEST_CASE("tracefs per-cpu stats: recorded = entries + overrun") {
  CHECK(ring_buffer_recorded("entries: 3\noverrun: 0\ncommit overrun: 0\nbytes: 120\n") == 3);
  CHECK(ring_buffer_recorded("entries: 10\noverrun: 7\n") == 17);
  CHECK(ring_buffer_recorded("bytes: 0\n") == -1);
}

TEST_CASE("kernel object names are prefixed and safe") {
  CHECK(kernel_object_name("dust") == "fb_dust");
  CHECK(kernel_object_name("my fault/1") == "fb_my_fault_1");
  CHECK(kernel_object_name(std::string(100, 'a')).size() == 60);
}

TEST_CASE("tracefs stack traces become distinct signatures without the tracing machinery") {
  // The layout of a tracefs instance's trace with options/stacktrace (6.1).
  const char* trace =
      "# tracer: nop\n"
      "#\n"
      "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n"
      "              dd-34      [000] .....     2.226362: block_bio_complete: 252,0 RS 1000 + 1 [-5]\n"
      "              dd-34      [000] .....     2.226380: <stack trace>\n"
      " => trace_event_raw_event_block_bio_complete\n"
      " => bio_endio\n"
      " => dm_submit_bio\n"
      " => __submit_bio\n"
      " => submit_bio_noacct_nocheck\n"
      " => submit_bio_wait\n"
      " => __blkdev_direct_IO_simple\n"
      " => blkdev_read_iter\n"
      "              dd-35      [000] .....     2.284976: block_bio_complete: 252,0 RS 1002 + 1 [-5]\n"
      "              dd-35      [000] .....     2.284990: <stack trace>\n"
      " => trace_event_raw_event_block_bio_complete\n"
      " => bio_endio\n"
      " => dm_submit_bio\n"
      " => __submit_bio\n"
      " => submit_bio_noacct_nocheck\n"
      " => submit_bio_wait\n"
      " => __blkdev_direct_IO_simple\n"
      " => blkdev_read_iter\n"
      "     kworker/0:1-20      [000] d.h..     3.000000: <stack trace>\n"
      " => __kretprobe_trampoline_handler\n"
      " => kretprobe_rethook_handler\n"
      " => flakey_map\n"
      " => __map_bio\n";
  auto sigs = trace_stack_signatures(trace, 4);
  REQUIRE(sigs.size() == 2);
  CHECK(sigs[0] ==
        "bio_endio <- dm_submit_bio <- __submit_bio <- submit_bio_noacct_nocheck <- submit_bio_wait <- "
        "__blkdev_direct_IO_simple");
  CHECK(sigs[1] == "flakey_map <- __map_bio");
  CHECK(trace_stack_signatures(trace, 1).size() == 1);
  CHECK(trace_stack_signatures("# tracer: nop\n => orphan_frame\n", 4).empty());
}
