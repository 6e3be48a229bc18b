#include "protocol/fault_types.h"

#include <cstdlib>

namespace fb::proto {

namespace {

using K = ParamKind;
constexpr auto none = std::nullopt;

// Keys of every debugfs fault attribute (Documentation/fault-injection/fault-injection.rst).
// `times` is written as a large number for "no limit" so the count that is left gives an exact
// fired count; verbose 2 logs each failure with its stack, which the report groups.
#define FB_ATTR_KEYS(task_filter_default, task_filter_doc)                                                          \
  {"probability", K::Int, false, 0, 100, 100, "percent of calls that fail"},                                         \
      {"interval", K::Int, false, 1, kParamNoMax, 1, "fail at most every Nth eligible call"},                        \
      {"times", K::Int, false, -1, kParamNoMax, -1, "how many failures at most, -1 for no limit"},                   \
      {"space", K::Int, false, 0, kParamNoMax, 0, "bytes of \"free\" size before failures start"},                   \
      {"verbose", K::Int, false, 0, 2, 2, "0 quiet, 1 one log line per failure, 2 also its stack (so reports show where it fired)"}, \
      {"task_filter", K::Bool, false, 0, 0, task_filter_default, task_filter_doc}

#define FB_TASK_FILTER_DOC "fail only in the step's own processes (the agent and init are never hit)"

constexpr FaultParam kFailslab[] = {
    FB_ATTR_KEYS(1, FB_TASK_FILTER_DOC),
    {"ignore_gfp_wait", K::Bool, false, 0, 0, 0, "skip allocations that may sleep"},
    {"cache_filter", K::Bool, false, 0, 0, 0, "only caches marked in /sys/kernel/slab/*/failslab"},
};
constexpr FaultParam kFailPageAlloc[] = {
    FB_ATTR_KEYS(1, FB_TASK_FILTER_DOC),
    {"ignore_gfp_wait", K::Bool, false, 0, 0, 0, "skip allocations that may sleep"},
    {"ignore_gfp_highmem", K::Bool, false, 0, 0, 0, "skip highmem allocations"},
    // The kernel's own default: with 0 a marked task's order-0 user page faults fail and are
    // retried forever, so a marked step never gets past its first page fault.
    {"min_order", K::Int, false, 0, 10, 1, "only allocations of at least this order (0 also fails the step's own page faults, which retry forever)"},
};
constexpr FaultParam kTarget = {"target", K::String, true, 0, 0, none, "\"disk:NAME\" or \"disk:NAME/PARTITION\""};
constexpr FaultParam kFailMakeRequest[] = {FB_ATTR_KEYS(1, FB_TASK_FILTER_DOC), kTarget};
// The timeout is faked where a request completes, mostly in interrupt context, where no task can
// match a task filter (lib/fault-inject.c fails a filtered attr outside task context): filtered,
// it would never fire. The target's io-timeout-fail switch keeps it to that disk.
constexpr FaultParam kFailIoTimeout[] = {
    FB_ATTR_KEYS(0, "fail only in the step's own processes; off by default because the check runs where a request "
                    "completes, in interrupt context, where no task matches (the target's io-timeout-fail switch "
                    "limits it to that disk)"),
    kTarget};
constexpr FaultParam kFailFutex[] = {
    FB_ATTR_KEYS(1, FB_TASK_FILTER_DOC),
    {"ignore_private", K::Bool, false, 0, 0, 0, "skip process-private futexes"},
};
constexpr FaultParam kFailUsercopy[] = {FB_ATTR_KEYS(1, FB_TASK_FILTER_DOC)};
constexpr FaultParam kFailFunction[] = {
    FB_ATTR_KEYS(1, FB_TASK_FILTER_DOC),
    {"function", K::String, true, 0, 0, none, "a function in fail_function/injectable"},
    {"retval", K::Int, false, kParamNoMin, kParamNoMax, none,
     "value it returns (default by the function's injectable type: -12 for ERRNO, 1 for TRUE, 0 for NULL)"},
};
constexpr FaultParam kFailNth[] = {
    {"nth", K::Int, false, 1, kParamNoMax, none, "fail the Nth fault site the step reaches (default 1 with sweep)"},
    {"sweep", K::Bool, false, 0, 0, 0, "run the step with nth = 1, 2, ... until it completes"},
    {"sweep_max", K::Int, false, 1, 100000, 1000, "stop sweeping after this many runs"},
};
constexpr FaultParam kDmDust[] = {
    kTarget,
    {"block_size", K::Int, false, 512, 1 << 20, 512, "dust block size in bytes, a power of 2"},
    {"bad_blocks", K::IntArray, false, 0, kParamNoMax, none,
     "block numbers (of block_size) whose reads fail with EIO; a write to one clears it"},
    {"enable", K::Bool, false, 0, 0, 1, "fail reads of bad blocks from the start (false: the list is only kept)"},
    {"quiet", K::Bool, false, 0, 0, 0, "do not log bad-block additions and removals by writes"},
};
constexpr FaultParam kDmFlakey[] = {
    kTarget,
    // No default written into a request: the agent's down_interval default depends on its absence.
    {"up_interval", K::Int, false, 0, kParamNoMax, none, "seconds of normal I/O per cycle (default 0)"},
    {"down_interval", K::Int, false, 0, kParamNoMax, none,
     "seconds of faulty I/O per cycle (default 1 without up_interval: always faulty; else 0)"},
    {"drop_writes", K::Bool, false, 0, 0, 0, "while down, writes are silently dropped"},
    {"error_writes", K::Bool, false, 0, 0, 0, "while down, writes fail with EIO (without either, all I/O fails while down)"},
    {"corrupt_bio_byte", K::IntArray, false, 0, kParamNoMax, none,
     "[nth_byte (from 1), direction (0 read, 1 write), value 0..255, bio flags]: while down, that byte of matching "
     "bios is overwritten"},
};
constexpr FaultParam kScsiDebug[] = {
    {"every_nth", K::Int, false, 0, kParamNoMax, 0, "inject the opts errors on every Nth SCSI command (medium_error ignores it)"},
    {"opts", K::StringArray, false, 0, 0, none,
     "error kinds: medium_error, timeout, mac_timeout, recovered_error, transport_error, dif_error, dix_error, "
     "short_transfer, host_busy, cmd_abort, noise"},
    {"medium_error_start", K::Int, false, 0, kParamNoMax, 4660, "first LBA that fails with medium_error (0x1234)"},
    {"medium_error_count", K::Int, false, 1, kParamNoMax, 10, "how many LBAs fail with medium_error"},
    {"command_timeout", K::Int, false, 1, 3600, 30, "seconds the SCSI layer waits for a command before error handling"},
    {"dev_size_mb", K::Int, false, 1, 4096, 8, "size of the emulated disk; a boot parameter, so one size per run"},
};
constexpr FaultParam kNullBlk[] = {
    {"size_mb", K::Int, false, 1, 65536, 16, "device size in MiB, memory-backed"},
    {"bad_blocks", K::IntArray, false, 0, kParamNoMax, none, "512-byte sectors whose reads and writes fail with EIO"},
    {"timeout_every", K::Int, false, 1, kParamNoMax, none,
     "every Nth request is never completed: it times out (5 s) with ETIMEDOUT; a boot parameter (null_blk.timeout), "
     "so one value per run"},
    {"requeue_every", K::Int, false, 1, kParamNoMax, none,
     "every Nth request is requeued (retried later); a boot parameter (null_blk.requeue), so one value per run"},
};
constexpr FaultParam kBpfOverride[] = {
    {"function", K::String, true, 0, 0, none, "a function in the kernel's error-injection list (faultbox kernel injectable)"},
    {"retval", K::Int, false, kParamNoMin, kParamNoMax, -12, "value it returns"},
    {"probability", K::Int, false, 0, 100, 100, "percent of calls overridden"},
};

#undef FB_ATTR_KEYS
#undef FB_TASK_FILTER_DOC

using M = FaultMechanism;
constexpr FaultType kTypes[] = {
    {"failslab", M::DebugfsAttr, "slab allocations fail (kmalloc, kmem_cache_alloc)", kFailslab},
    {"fail_page_alloc", M::DebugfsAttr, "page allocations fail", kFailPageAlloc},
    {"fail_make_request", M::DebugfsAttr, "block I/O submitted to the target disk fails with EIO", kFailMakeRequest},
    {"fail_io_timeout", M::DebugfsAttr, "requests of the target disk never complete: they time out", kFailIoTimeout},
    {"fail_futex", M::DebugfsAttr, "futex operations fail", kFailFutex},
    {"fail_usercopy", M::DebugfsAttr, "copies to and from user memory fail", kFailUsercopy},
    {"fail_function", M::DebugfsAttr, "a function of the kernel's error-injection list returns an error", kFailFunction},
    {"fail_nth", M::FailNth, "the Nth fault site the step's process reaches fails, whatever its type", kFailNth},
    {"dm_dust", M::DeviceMapper, "dm-dust over the target: listed blocks read as bad", kDmDust},
    {"dm_flakey", M::DeviceMapper, "dm-flakey over the target: I/O fails or is dropped while down", kDmFlakey},
    {"scsi_debug", M::ScsiDebug, "an emulated SCSI disk that injects the chosen SCSI errors", kScsiDebug},
    {"null_blk", M::NullBlk, "a memory-backed null_blk disk with bad blocks, timeouts or requeues", kNullBlk},
    {"bpf_override", M::BpfOverride, "bpf_override_return on a kprobe: an injectable function returns an error", kBpfOverride},
};

}  // namespace

std::span<const FaultType> fault_types() { return kTypes; }

const FaultType* find_fault_type(std::string_view name) {
  for (auto& t : kTypes)
    if (name == t.name) return &t;
  return nullptr;
}

const FaultParam* find_param(const FaultType& type, std::string_view key) {
  for (auto& p : type.params)
    if (key == p.key) return &p;
  return nullptr;
}

std::int64_t param_default(std::string_view type, std::string_view key) {
  const FaultType* t = find_fault_type(type);
  const FaultParam* p = t ? find_param(*t, key) : nullptr;
  // A caller asking for a default the registry does not have is a programming error.
  if (!p || !p->default_value) std::abort();
  return *p->default_value;
}

}  // namespace fb::proto
