// libFuzzer target: /dev/kmsg record parsing and fault-injection stacks (orchestrator/core/kmsg.h),
// the byte stream fed in input-derived pieces. Invariants (a violation traps):
//  - every record's level is 0..7;
//  - the records do not depend on how the stream was split (same as feeding it in one piece);
//  - find_injections and stack_signature run on whatever the parser produced.
#include "orchestrator/core/kmsg.h"
#include "pieces.h"

#include <cstdint>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fb::KmsgParser parser;
  std::vector<fb::KmsgRecord> records;
  fb::fuzz::for_each_piece(data, size, [&](std::string_view piece) { parser.feed(piece, records); });
  for (const auto& r : records) {
    if (r.level < 0 || r.level > 7) __builtin_trap();
    (void)r.line();
  }

  fb::KmsgParser whole;
  std::vector<fb::KmsgRecord> again;
  whole.feed(std::string_view(reinterpret_cast<const char*>(data), size), again);
  if (again.size() != records.size()) __builtin_trap();
  for (std::size_t i = 0; i < again.size(); ++i)
    if (again[i].seq != records[i].seq || again[i].usec != records[i].usec || again[i].text != records[i].text)
      __builtin_trap();

  for (const auto& e : fb::find_injections(records)) (void)e.stack_signature();
  return 0;
}
