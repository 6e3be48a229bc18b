#include "protocol/line_splitter.h"

namespace fb::proto {

LineSplitter::LineSplitter(std::size_t max_line) : max_(max_line) {}

void LineSplitter::feed(std::string_view bytes) {
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

std::optional<SplitLine> LineSplitter::next() {
  for (;;) {
    std::size_t nl = buf_.find('\n', pos_);
    if (discarding_) {
      if (nl == std::string::npos) {
        discarded_ += buf_.size() - pos_;
        buf_.clear();
        pos_ = 0;
        return std::nullopt;
      }
      discarded_ += nl - pos_;
      pos_ = nl + 1;
      discarding_ = false;
      return Oversize{discarded_};
    }
    if (nl == std::string::npos) {
      if (buf_.size() - pos_ > max_) {
        discarding_ = true;
        discarded_ = 0;
        continue;
      }
      return std::nullopt;
    }
    if (nl - pos_ > max_) {
      std::size_t n = nl - pos_;
      pos_ = nl + 1;
      return Oversize{n};
    }
    std::string line = buf_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
}

}  // namespace fb::proto
