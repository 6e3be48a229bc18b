#include "orchestrator/core/kmsg.h"

#include <catch2/catch.hpp>

using namespace fb;

// Records as /dev/kmsg hands them out, from a real faultbox run of examples/failslab-one-task.toml.
static const char* kRealRecords =
    "5,412,1600058,-;FAULT_INJECTION: forcing a failure.\\x0aname failslab, interval 1, probability 100, space 0, "
    "times 2147483647\n"
    "4,413,1600058,-;CPU: 0 PID: 26 Comm: mkdir Not tainted 6.1.192 #1 \n"
    "4,414,1600058,-;Call Trace:\n"
    "4,415,1600058,-; <TASK>\n"
    "4,416,1600058,-; dump_stack_lvl+0x33/0x42\n"
    "4,417,1600058,-; should_fail_ex+0x116/0x139\n"
    "4,418,1600058,-; should_failslab+0x5/0xd\n"
    "4,419,1600058,-; slab_pre_alloc_hook.constprop.0+0x2a/0x109\n"
    "4,420,1600058,-; ? getname_flags+0x24/0x149\n"
    "4,421,1600058,-; kmem_cache_alloc+0x41/0x12b\n"
    "4,422,1600058,-; getname_flags+0x24/0x149\n"
    "4,423,1600058,-; __x64_sys_mkdir+0xe/0x21\n"
    "4,424,1600058,-; do_syscall_64+0x39/0x46\n"
    "4,425,1600058,-; entry_SYSCALL_64_after_hwframe+0x4b/0xb5\n"
    "4,426,1600058,-;RIP: 0033:0x47b567\n"
    "4,427,1600058,-; </TASK>\n"
    " SUBSYSTEM=none\n"
    "6,428,1616059,-;an unrelated line\n";

TEST_CASE("kmsg records parse into levels, times and unescaped text") {
  KmsgParser p;
  std::vector<KmsgRecord> recs;
  p.feed(kRealRecords, recs);
  REQUIRE(recs.size() == 17);
  CHECK(recs[0].level == 5);
  CHECK(recs[0].seq == 412);
  CHECK(recs[0].text == "FAULT_INJECTION: forcing a failure.\nname failslab, interval 1, probability 100, space 0, "
                        "times 2147483647");
  CHECK(recs[16].line() == "[    1.616059] an unrelated line");
}

TEST_CASE("records split across reads are reassembled") {
  std::string all = kRealRecords;
  KmsgParser p;
  std::vector<KmsgRecord> recs;
  for (std::size_t i = 0; i < all.size(); i += 7) p.feed(std::string_view(all).substr(i, 7), recs);
  CHECK(recs.size() == 17);
}

TEST_CASE("an injection event names its fault, task and stack without the injection machinery") {
  KmsgParser p;
  std::vector<KmsgRecord> recs;
  p.feed(kRealRecords, recs);
  auto ev = find_injections(recs);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].fault == "failslab");
  CHECK(ev[0].task == "mkdir");
  REQUIRE(ev[0].frames.size() >= 3);
  CHECK(ev[0].frames[0] == "kmem_cache_alloc");
  CHECK(ev[0].frames[1] == "getname_flags");
  CHECK(ev[0].stack_signature() ==
        "kmem_cache_alloc <- getname_flags <- __x64_sys_mkdir <- do_syscall_64 <- entry_SYSCALL_64_after_hwframe");
}

TEST_CASE("an injection in interrupt context gets the interrupt's stack, not the interrupted task's") {
  // fail_io_timeout at an ide disk's completion, as the guest logged it (6.1.192, TCG).
  const char* dump =
      "5,700,1664071,-;FAULT_INJECTION: forcing a failure.\\x0aname fail_io_timeout, interval 1, probability 100, "
      "space 0, times 1\n"
      "4,701,1664071,-;CPU: 0 PID: 0 Comm: swapper/0 Not tainted 6.1.192 #1 \n"
      "4,702,1664071,-;Call Trace:\n"
      "4,703,1664071,-; <IRQ>\n"
      "4,704,1664071,-; dump_stack_lvl+0x33/0x42\n"
      "4,705,1664071,-; should_fail_ex+0x116/0x139\n"
      "4,706,1664071,-; scsi_done_internal+0x4c/0xab\n"
      "4,707,1664071,-; ata_scsi_qc_complete+0x34a/0x3a2\n"
      "4,708,1664071,-; ata_sff_hsm_move+0x665/0x691\n"
      "4,709,1664071,-; ? check_preempt_curr+0x47/0x55\n"
      "4,710,1664071,-; __ata_sff_port_intr+0xea/0xf7\n"
      "4,711,1664071,-; </IRQ>\n"
      "4,712,1664071,-; <TASK>\n"
      "4,713,1664071,-; asm_common_interrupt+0x22/0x40\n"
      "4,714,1664071,-; default_idle_call+0x39/0x4f\n"
      "4,715,1664071,-; </TASK>\n";
  KmsgParser p;
  std::vector<KmsgRecord> recs;
  p.feed(dump, recs);
  auto ev = find_injections(recs);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].fault == "fail_io_timeout");
  CHECK(ev[0].task == "swapper/0");
  CHECK(ev[0].stack_signature() == "scsi_done_internal <- ata_scsi_qc_complete <- ata_sff_hsm_move <- __ata_sff_port_intr");
}

TEST_CASE("garbage and malformed records are skipped, not fatal") {
  KmsgParser p;
  std::vector<KmsgRecord> recs;
  p.feed("no semicolon here\nx,y,z;bad numbers\n\n6,1,5,-;fine\n", recs);
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].text == "fine");
}

TEST_CASE("a newline-less flood is dropped instead of buffered forever") {
  KmsgParser p;
  std::vector<KmsgRecord> recs;
  std::string flood(1 << 20, 'x');
  for (int i = 0; i < 3; ++i) p.feed(flood, recs);  // 3 MiB without a newline
  p.feed("\n6,7,8,-;after the flood\n", recs);
  REQUIRE_FALSE(recs.empty());
  CHECK(recs.back().text == "after the flood");
}

// Records as /dev/kmsg hands them out: a memcg OOM kill from a faultbox guest (a shell in a cgroup
// with memory.max = 8M, 6.1.192), then a system OOM kill from tests/data/console.
static const char* kOomRecords =
    "4,301,4528230,-;head invoked oom-killer: gfp_mask=0x500cc2(GFP_HIGHUSER|__GFP_ACCOUNT), order=0, oom_score_adj=0\n"
    "6,330,4540230,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),oom_memcg=/w,task_memcg=/w,task=sh,pid=33,"
    "uid=0\n"
    "3,331,4540230,-;Memory cgroup out of memory: Killed process 33 (sh) total-vm:13652kB, anon-rss:7772kB, "
    "file-rss:4kB, shmem-rss:1600kB, UID:0 pgtables:56kB oom_score_adj:0\n"
    "3,402,5709767,-;Out of memory: Killed process 27 (tail) total-vm:221916kB, anon-rss:219804kB, file-rss:4kB, "
    "shmem-rss:1344kB, UID:0 pgtables:464kB oom_score_adj:0\n"
    "6,403,5709800,-;Killed process 99 (x) is not an OOM record\n";

TEST_CASE("OOM kills are found with their victim and whether a memory cgroup or the system ran out") {
  KmsgParser p;
  std::vector<KmsgRecord> recs;
  p.feed(kOomRecords, recs);
  auto kills = find_oom_kills(recs);
  REQUIRE(kills.size() == 2);
  CHECK(kills[0].pid == 33);
  CHECK(kills[0].comm == "sh");
  CHECK(kills[0].reason == "memory cgroup");
  CHECK(kills[0].memcg == "/w");
  CHECK(kills[1].pid == 27);
  CHECK(kills[1].comm == "tail");
  CHECK(kills[1].reason == "system");
  CHECK(kills[1].memcg == "");
  // a comm may hold ") " itself
  std::vector<KmsgRecord> odd = {{3, 1, 1, "Out of memory: Killed process 5 (a) b) total-vm:1kB, anon-rss:1kB"}};
  REQUIRE(find_oom_kills(odd).size() == 1);
  CHECK(find_oom_kills(odd)[0].comm == "a) b");
}
