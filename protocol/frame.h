#pragma once
// Trace-port frames: a fixed 36-byte little-endian header, then the payload.
//
//   magic u32 'FBXT' | stream u16 | flags u16 | channel u32 | length u32 |
//   seq u64 | monotonic_ns u64 | header_crc u32 (CRC-32 of the 32 bytes before it)
//
// seq counts the frames of one channel from 0, across all its streams, so the host can
// restore order and see loss (a gap). The decoder resynchronises after garbage by scanning
// for a magic whose header CRC matches.
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace fb::proto {

inline constexpr std::uint32_t kFrameMagic = 0x54584246;  // "FBXT" in memory order
inline constexpr std::size_t kFrameHeaderBytes = 36;

enum class Stream : std::uint16_t {
  Stdout = 1,
  Stderr = 2,
  Kmsg = 3,
  Trace = 4,
};

// flags
inline constexpr std::uint16_t kFlagEnd = 1;  // last frame of this stream on this channel

struct Frame {
  Stream stream = Stream::Stdout;
  std::uint16_t flags = 0;
  std::uint32_t channel = 0;
  std::uint64_t seq = 0;
  std::uint64_t monotonic_ns = 0;
  std::string payload;
};

std::uint32_t crc32(const void* data, std::size_t len, std::uint32_t crc = 0);

// Appends header + payload to out.
void encode_frame(const Frame& f, std::string& out);
// Writes just the header for a payload of payload_len bytes that the caller sends after it.
void encode_frame_header(Stream stream, std::uint16_t flags, std::uint32_t channel, std::uint64_t seq,
                         std::uint64_t monotonic_ns, std::uint32_t payload_len, char out[kFrameHeaderBytes]);

class FrameDecoder {
 public:
  void feed(std::string_view bytes);
  // Next complete frame, or nullopt when more bytes are needed.
  std::optional<Frame> next();
  // Bytes skipped while resynchronising (garbage, corrupt headers, oversize lengths).
  std::uint64_t skipped_bytes() const { return skipped_; }

 private:
  std::string buf_;
  std::size_t pos_ = 0;
  std::uint64_t skipped_ = 0;
};

}  // namespace fb::proto
