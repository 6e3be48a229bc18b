#pragma once
// The pure parts of the block fault modules: kernel knob syntax built from scenario
// parameters and kernel replies parsed back. No I/O, so unit tests cover them on the host.
#include "common/result.h"

#include <cstdint>
#include <string>
#include <vector>

namespace fb::agent {

// dm-dust's "listbadblocks" reply: one block number per line, or "No blocks in badblocklist".
std::vector<std::uint64_t> parse_dust_block_list(const std::string& reply);

// scsi_debug opts names (protocol/scsi_debug_opts.h) to the opts bit mask, or an error naming
// the unknown name and the known ones.
Result<unsigned> scsi_debug_opts_mask(const std::vector<std::string>& names);

struct FlakeyParams {
  std::string device;  // /dev/vdX
  std::uint64_t up_interval = 0;
  std::uint64_t down_interval = 1;
  bool drop_writes = false;
  bool error_writes = false;
  std::vector<std::int64_t> corrupt_bio_byte;  // empty or [nth_byte, direction 0 read / 1 write, value, flags]
};
// The dm-flakey table parameters after "flakey" (6.1 syntax), or why they cannot be.
Result<std::string> flakey_table_params(const FlakeyParams& p);

// null_blk's badblocks attribute takes "+first-last" ranges: consecutive sectors merged.
std::vector<std::string> null_blk_badblock_ranges(std::vector<std::uint64_t> sectors);

// Events a tracefs ring buffer recorded, from a per_cpu/cpuN/stats file: what it still holds
// ("entries") plus what newer events overwrote ("overrun"). -1 when the file has neither.
std::int64_t ring_buffer_recorded(const std::string& stats);

// Distinct call paths from a tracefs trace recorded with options/stacktrace: each
// "<stack trace>" record's " => func" lines, tracing machinery dropped, as "f1 <- f2 <- ..."
// (innermost first, at most 6 frames), at most `max` of them, in order of first appearance.
std::vector<std::string> trace_stack_signatures(const std::string& trace, std::size_t max);

// "fb_" + the fault's name with everything but [A-Za-z0-9_] replaced: usable as a dm device
// name, a tracefs instance and a kprobe event name.
std::string kernel_object_name(const std::string& fault_name);

}  // namespace fb::agent
