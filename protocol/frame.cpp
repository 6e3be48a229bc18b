#include "protocol/frame.h"

#include "protocol/protocol.h"

#include <array>
#include <cstring>

namespace fb::proto {

namespace {

std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

void put16(char* p, std::uint16_t v) {
  p[0] = static_cast<char>(v);
  p[1] = static_cast<char>(v >> 8);
}
void put32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void put64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
std::uint16_t get16(const char* p) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(p[0]) | (static_cast<unsigned char>(p[1]) << 8));
}
std::uint32_t get32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
std::uint64_t get64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

std::uint32_t crc32(const void* data, std::size_t len, std::uint32_t crc) {
  static const auto table = make_crc_table();
  auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < len; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

void encode_frame_header(Stream stream, std::uint16_t flags, std::uint32_t channel, std::uint64_t seq,
                         std::uint64_t monotonic_ns, std::uint32_t payload_len, char out[kFrameHeaderBytes]) {
  put32(out + 0, kFrameMagic);
  put16(out + 4, static_cast<std::uint16_t>(stream));
  put16(out + 6, flags);
  put32(out + 8, channel);
  put32(out + 12, payload_len);
  put64(out + 16, seq);
  put64(out + 24, monotonic_ns);
  put32(out + 32, crc32(out, 32));
}

void encode_frame(const Frame& f, std::string& out) {
  char h[kFrameHeaderBytes];
  encode_frame_header(f.stream, f.flags, f.channel, f.seq, f.monotonic_ns,
                      static_cast<std::uint32_t>(f.payload.size()), h);
  out.append(h, kFrameHeaderBytes);
  out.append(f.payload);
}

void FrameDecoder::feed(std::string_view bytes) {
  // Compact lazily so a long stream does not keep every byte it ever saw.
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

std::optional<Frame> FrameDecoder::next() {
  for (;;) {
    std::size_t avail = buf_.size() - pos_;
    if (avail < kFrameHeaderBytes) {
      // Keep at most a partial header; anything before a possible magic start is garbage.
      return std::nullopt;
    }
    const char* h = buf_.data() + pos_;
    bool header_ok = get32(h) == kFrameMagic && get32(h + 32) == crc32(h, 32) && get32(h + 12) <= kMaxFramePayload;
    if (!header_ok) {
      // Resync: skip to the next byte that could start a magic.
      std::size_t skip = 1;
      while (skip < avail && static_cast<unsigned char>(h[skip]) != (kFrameMagic & 0xFF)) ++skip;
      pos_ += skip;
      skipped_ += skip;
      continue;
    }
    std::uint32_t len = get32(h + 12);
    if (avail < kFrameHeaderBytes + len) return std::nullopt;
    Frame f;
    f.stream = static_cast<Stream>(get16(h + 4));
    f.flags = get16(h + 6);
    f.channel = get32(h + 8);
    f.seq = get64(h + 16);
    f.monotonic_ns = get64(h + 24);
    f.payload.assign(h + kFrameHeaderBytes, len);
    pos_ += kFrameHeaderBytes + len;
    return f;
  }
}

}  // namespace fb::proto
