// libFuzzer target: crash detection over a serial-console log (orchestrator/core/crash_report.h).
// Invariants (a violation traps):
//  - a crash found has a non-empty title with no '\n', and 1 <= first_line <= last_line;
//  - at most ConsoleScan::kMaxEvents events are kept.
#include "orchestrator/core/crash_report.h"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto scan = fb::scan_console(std::string_view(reinterpret_cast<const char*>(data), size));
  if (scan.crash) {
    const auto& c = *scan.crash;
    if (c.title.empty() || c.title.find('\n') != std::string::npos) __builtin_trap();
    if (c.first_line == 0 || c.first_line > c.last_line) __builtin_trap();
  }
  if (scan.events.size() > fb::ConsoleScan::kMaxEvents) __builtin_trap();
  return 0;
}
