// The booted kernel has every option the product needs, read from inside the guest.
#include "tests/vm/vm_support.h"

using namespace fb;
using namespace fb::test;

TEST_CASE("every required option is =y in the running kernel's /proc/config.gz") {
  ScratchDir rt;
  auto r = faultbox_exec(rt, {"--", "sh", "-c", "zcat /proc/config.gz"});
  INFO(r.err);
  REQUIRE(r.status.code == 0);
  for (const char* opt :
       {"FAULT_INJECTION", "FAULT_INJECTION_DEBUG_FS", "FAILSLAB", "FAIL_PAGE_ALLOC", "FAIL_MAKE_REQUEST",
        "FAIL_IO_TIMEOUT", "FAIL_FUTEX", "FAULT_INJECTION_USERCOPY", "FUNCTION_ERROR_INJECTION", "FAIL_FUNCTION",
        "KPROBES", "BPF_SYSCALL", "BPF_EVENTS", "BPF_KPROBE_OVERRIDE", "DM_DUST", "DM_FLAKEY", "SCSI_DEBUG",
        "BLK_DEV_NULL_BLK", "BLK_DEV_NULL_BLK_FAULT_INJECTION", "SWAP", "MEMCG", "EXT4_FS", "VIRTIO_CONSOLE",
        "VIRTIO_BLK", "SCSI_VIRTIO", "BLK_DEV_SD", "ATA", "ATA_SFF", "ATA_BMDMA", "ATA_PIIX", "PVPANIC", "IKCONFIG_PROC", "DEBUG_FS", "LKDTM", "DETECT_HUNG_TASK", "SOFTLOCKUP_DETECTOR"}) {
    INFO("CONFIG_" << opt);
    CHECK_THAT(r.out, Catch::Contains("\nCONFIG_" + std::string(opt) + "=y\n"));
  }
}

TEST_CASE("faultbox exec can count the =y options from inside the guest") {
  ScratchDir rt;
  auto r = faultbox_exec(rt, {"--", "sh", "-c", "zcat /proc/config.gz | grep -c '=y'"});
  REQUIRE(r.status.code == 0);
  CHECK(std::stoi(r.out) > 300);
}
