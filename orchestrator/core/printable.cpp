#include "orchestrator/core/printable.h"

namespace fb {

namespace {

// Length of the valid UTF-8 sequence at s[i] (2..4), or 0 when there is none there.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto u = static_cast<unsigned char>(s[i]);
  std::size_t n = u >= 0xf0 && u <= 0xf4 ? 4 : u >= 0xe0 ? (u < 0xf0 ? 3 : 0) : u >= 0xc2 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  auto b1 = static_cast<unsigned char>(s[i + 1]);
  if ((u == 0xe0 && b1 < 0xa0) || (u == 0xed && b1 >= 0xa0) || (u == 0xf0 && b1 < 0x90) || (u == 0xf4 && b1 >= 0x90))
    return 0;  // overlong, surrogate or beyond U+10FFFF
  if (u == 0xc2 && b1 < 0xa0) return 0;  // U+0080..U+009F: C1 controls (0x9b is CSI to some terminals)
  return n;
}

}  // namespace

std::string printable(std::string_view s, std::size_t cap, TextLayout layout) {
  s = s.substr(0, cap);
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto u = static_cast<unsigned char>(s[i]);
    if ((u >= 0x20 && u < 0x7f) || (layout == TextLayout::Lines && (u == '\n' || u == '\t'))) {
      out.push_back(s[i]);
      continue;
    }
    if (layout == TextLayout::Lines && u >= 0x80) {
      if (std::size_t n = utf8_sequence(s, i)) {
        out.append(s.substr(i, n));
        i += n - 1;
        continue;
      }
    }
    static constexpr char kHex[] = "0123456789abcdef";
    out += "\\x";
    out.push_back(kHex[u >> 4]);
    out.push_back(kHex[u & 15]);
  }
  return out;
}

std::string xml_escape(std::string_view s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') o += ' ';
        else o += c;
    }
  }
  return o;
}

std::string html_escape(std::string_view s, TextLayout layout) {
  std::string shown = printable(s, std::string_view::npos, layout);
  std::string o;
  o.reserve(shown.size());
  for (char c : shown) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

}  // namespace fb
