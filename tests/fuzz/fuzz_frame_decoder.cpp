// libFuzzer target: trace-port frame decoder (protocol/frame.h) over arbitrary bytes fed in
// input-derived pieces. Invariants (a violation traps):
//  - every payload returned is <= kMaxFramePayload;
//  - skipped_bytes() never exceeds the bytes fed, nor do skipped + decoded frame bytes;
//  - a returned frame re-encoded with encode_frame decodes again to the same fields;
//  - the frames do not depend on how the input was split (same as feeding it in one piece).
#include "pieces.h"
#include "protocol/frame.h"
#include "protocol/protocol.h"

#include <cstdint>
#include <string>
#include <vector>

using namespace fb::proto;

namespace {

bool same(const Frame& a, const Frame& b) {
  return a.stream == b.stream && a.flags == b.flags && a.channel == b.channel && a.seq == b.seq &&
         a.monotonic_ns == b.monotonic_ns && a.payload == b.payload;
}

void check_round_trip(const Frame& f) {
  std::string wire;
  encode_frame(f, wire);
  if (wire.size() != kFrameHeaderBytes + f.payload.size()) __builtin_trap();
  FrameDecoder d;
  d.feed(wire);
  auto again = d.next();
  if (!again || !same(*again, f)) __builtin_trap();
  if (d.next() || d.skipped_bytes() != 0) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FrameDecoder d;
  std::vector<Frame> frames;
  std::uint64_t fed = 0, framed = 0;
  fb::fuzz::for_each_piece(data, size, [&](std::string_view piece) {
    d.feed(piece);
    fed += piece.size();
    while (auto f = d.next()) {
      if (f->payload.size() > kMaxFramePayload) __builtin_trap();
      framed += kFrameHeaderBytes + f->payload.size();
      frames.push_back(std::move(*f));
      if (d.skipped_bytes() > fed || d.skipped_bytes() + framed > fed) __builtin_trap();
    }
    if (d.skipped_bytes() > fed || d.skipped_bytes() + framed > fed) __builtin_trap();
  });
  for (const Frame& f : frames) check_round_trip(f);

  FrameDecoder whole;
  whole.feed(std::string_view(reinterpret_cast<const char*>(data), size));
  std::size_t i = 0;
  while (auto f = whole.next()) {
    if (i >= frames.size() || !same(*f, frames[i])) __builtin_trap();
    ++i;
  }
  if (i != frames.size()) __builtin_trap();
  return 0;
}
