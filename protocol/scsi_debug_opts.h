#pragma once
// scsi_debug's opts by name (6.1 drivers/scsi/scsi_debug.c, SDEBUG_OPT_*): the names a scenario
// may use, checked by the scenario parser and turned into the opts bit mask by the agent.
namespace fb::proto {

struct ScsiDebugOpt {
  const char* name;
  unsigned bit;
  const char* what;  // what the workload sees
};

// The injecting bits and noise; 0x200 (queue noise) and the rest only change logging or timing.
inline constexpr ScsiDebugOpt kScsiDebugOpts[] = {
    {"noise", 0x1, "every command logged"},
    {"medium_error", 0x2, "reads of LBAs medium_error_start.. fail: Medium Error sense, ENODATA"},
    {"timeout", 0x4, "every_nth command is never answered: SCSI timeout, error handling, retry"},
    {"recovered_error", 0x8, "every_nth read/write gets Recovered Error sense; the data is good"},
    {"transport_error", 0x10, "every_nth command gets Aborted Command (transport problem); retried"},
    {"dif_error", 0x20, "every_nth read/write gets a DIF guard check error"},
    {"dix_error", 0x40, "every_nth read/write gets a DIX guard check error"},
    {"mac_timeout", 0x80, "every_nth read/write (medium access) is never answered"},
    {"short_transfer", 0x100, "every_nth read/write transfers half its data"},
    {"host_busy", 0x8000, "every_nth command is refused with host busy; requeued"},
    {"cmd_abort", 0x10000, "every_nth command is aborted by the driver"},
};

}  // namespace fb::proto
