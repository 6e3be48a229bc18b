#pragma once
// Splits a fuzz input into pieces whose sizes are derived from the input itself (a hash of it
// seeds a small PRNG), so every input replays with the same split points and a mutation that
// changes any byte also explores a different split.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fb::fuzz {

template <class Fn>
void for_each_piece(const std::uint8_t* data, std::size_t size, Fn&& fn) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211ull;
  std::uint64_t x = h | 1;
  auto rnd = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  // One of four regimes: byte by byte, tiny, header-sized and anything up to the whole input.
  static constexpr std::size_t kMaxPiece[] = {1, 8, 72, SIZE_MAX};
  std::size_t cap = kMaxPiece[rnd() % 4];
  std::size_t pos = 0;
  while (pos < size) {
    std::size_t left = size - pos;
    std::size_t n = 1 + static_cast<std::size_t>(rnd() % (cap < left ? cap : left));
    fn(std::string_view(reinterpret_cast<const char*>(data) + pos, n));
    pos += n;
  }
}

}  // namespace fb::fuzz
