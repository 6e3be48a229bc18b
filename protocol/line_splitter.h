#pragma once
// Splits a byte stream into control lines, bounded by kMaxLineBytes: an overlong line is
// reported once as Oversize and its bytes are dropped up to the next newline.
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace fb::proto {

struct Oversize {
  std::size_t bytes;  // how many bytes the dropped line had
};

using SplitLine = std::variant<std::string, Oversize>;

class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line);
  void feed(std::string_view bytes);
  std::optional<SplitLine> next();

 private:
  std::size_t max_;
  std::string buf_;
  std::size_t pos_ = 0;
  bool discarding_ = false;
  std::size_t discarded_ = 0;
};

}  // namespace fb::proto
