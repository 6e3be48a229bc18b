// libFuzzer target: control-line splitter (protocol/line_splitter.h) with a small limit, fed in
// input-derived pieces. Invariants (a violation traps):
//  - every line returned is <= the limit and holds no '\n';
//  - an Oversize report is for more bytes than the limit;
//  - the lines do not depend on how the input was split (same as feeding it in one piece).
#include "pieces.h"
#include "protocol/line_splitter.h"

#include <cstdint>
#include <string>
#include <vector>

using namespace fb::proto;

namespace {

constexpr std::size_t kMax = 64;

void check(const SplitLine& l) {
  if (auto* s = std::get_if<std::string>(&l)) {
    if (s->size() > kMax || s->find('\n') != std::string::npos) __builtin_trap();
  } else if (std::get<Oversize>(l).bytes <= kMax) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  LineSplitter split(kMax);
  std::vector<SplitLine> lines;
  fb::fuzz::for_each_piece(data, size, [&](std::string_view piece) {
    split.feed(piece);
    while (auto l = split.next()) {
      check(*l);
      lines.push_back(std::move(*l));
    }
  });

  LineSplitter whole(kMax);
  whole.feed(std::string_view(reinterpret_cast<const char*>(data), size));
  std::size_t i = 0;
  while (auto l = whole.next()) {
    if (i >= lines.size() || lines[i].index() != l->index()) __builtin_trap();
    if (auto* s = std::get_if<std::string>(&*l)) {
      if (*s != std::get<std::string>(lines[i])) __builtin_trap();
    } else if (std::get<Oversize>(*l).bytes != std::get<Oversize>(lines[i]).bytes) {
      __builtin_trap();
    }
    ++i;
  }
  if (i != lines.size()) __builtin_trap();
  return 0;
}
