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
