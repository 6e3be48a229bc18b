#include "tests/support/html_dom.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace fb::test {

namespace {

bool is_void(std::string_view tag) {
  static constexpr std::string_view kVoid[] = {"area", "base", "br", "col", "embed", "hr", "img",
                                               "input", "link", "meta", "source", "track", "wbr"};
  return std::find(std::begin(kVoid), std::end(kVoid), tag) != std::end(kVoid);
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

std::string decode_entities(std::string_view s) {
  static const std::map<std::string, std::uint32_t, std::less<>> kNamed = {
      {"amp", '&'},     {"lt", '<'},       {"gt", '>'},       {"quot", '"'},     {"apos", '\''},  {"nbsp", 0xa0},
      {"larr", 0x2190}, {"hellip", 0x2026}, {"ndash", 0x2013}, {"mdash", 0x2014}, {"times", 0xd7}};
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    std::size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out.push_back('&');
      continue;
    }
    std::string_view name = s.substr(i + 1, semi - i - 1);
    if (!name.empty() && name[0] == '#') {
      bool hex = name.size() > 1 && (name[1] == 'x' || name[1] == 'X');
      std::string digits(name.substr(hex ? 2 : 1));
      if (!digits.empty()) {
        append_utf8(out, static_cast<std::uint32_t>(std::stoul(digits, nullptr, hex ? 16 : 10)));
        i = semi;
        continue;
      }
    } else if (auto it = kNamed.find(name); it != kNamed.end()) {
      append_utf8(out, it->second);
      i = semi;
      continue;
    }
    out.push_back('&');
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void collect(const HtmlElement& e, std::string_view tag, std::string_view cls, std::vector<const HtmlElement*>& out) {
  for (const auto& c : e.children) {
    if ((tag.empty() || c->tag == tag) && (cls.empty() || c->has_class(cls))) out.push_back(c.get());
    collect(*c, tag, cls, out);
  }
}

}  // namespace

std::string HtmlElement::attr(const std::string& name) const {
  auto it = attrs.find(name);
  return it == attrs.end() ? std::string() : it->second;
}

bool HtmlElement::has_class(std::string_view cls) const {
  std::string classes = attr("class");
  std::size_t i = 0;
  while (i < classes.size()) {
    std::size_t j = classes.find(' ', i);
    if (j == std::string::npos) j = classes.size();
    if (std::string_view(classes).substr(i, j - i) == cls) return true;
    i = j + 1;
  }
  return false;
}

std::vector<const HtmlElement*> HtmlElement::all(std::string_view tag, std::string_view cls) const {
  std::vector<const HtmlElement*> out;
  collect(*this, tag, cls, out);
  return out;
}

const HtmlElement* HtmlElement::first(std::string_view tag, std::string_view cls) const {
  auto v = all(tag, cls);
  return v.empty() ? nullptr : v.front();
}

const HtmlElement* HtmlElement::by_id(std::string_view id) const {
  for (const HtmlElement* e : all(""))
    if (e->attr("id") == id) return e;
  return nullptr;
}

std::unique_ptr<HtmlElement> parse_html(std::string_view html) {
  auto root = std::make_unique<HtmlElement>();
  root->tag = "#document";
  std::vector<HtmlElement*> open{root.get()};
  auto add_text = [&](std::string_view raw) {
    std::string text = decode_entities(raw);
    for (HtmlElement* e : open) e->text += text;
  };
  std::size_t i = 0;
  while (i < html.size()) {
    if (html[i] != '<') {
      std::size_t j = html.find('<', i);
      if (j == std::string_view::npos) j = html.size();
      add_text(html.substr(i, j - i));
      i = j;
      continue;
    }
    if (html.compare(i, 4, "<!--") == 0) {
      std::size_t j = html.find("-->", i + 4);
      i = j == std::string_view::npos ? html.size() : j + 3;
      continue;
    }
    if (html.compare(i, 2, "<!") == 0) {
      std::size_t j = html.find('>', i);
      i = j == std::string_view::npos ? html.size() : j + 1;
      continue;
    }
    if (html.compare(i, 2, "</") == 0) {
      std::size_t j = html.find('>', i);
      if (j == std::string_view::npos) break;
      std::string name = lower(html.substr(i + 2, j - i - 2));
      while (!name.empty() && std::isspace(static_cast<unsigned char>(name.back()))) name.pop_back();
      // Close up to the matching open element; a stray end tag closes nothing.
      auto it = std::find_if(open.rbegin(), open.rend(), [&](HtmlElement* e) { return e->tag == name; });
      if (it != open.rend()) open.erase(std::next(it).base(), open.end());
      i = j + 1;
      continue;
    }
    // A start tag: name, then attributes.
    std::size_t k = i + 1;
    while (k < html.size() && (std::isalnum(static_cast<unsigned char>(html[k])) || html[k] == '-')) ++k;
    if (k == i + 1) {  // "<" not starting a tag is text
      add_text("<");
      ++i;
      continue;
    }
    auto element = std::make_unique<HtmlElement>();
    element->tag = lower(html.substr(i + 1, k - i - 1));
    bool self_closing = false;
    while (k < html.size()) {
      while (k < html.size() && std::isspace(static_cast<unsigned char>(html[k]))) ++k;
      if (k >= html.size()) break;
      if (html[k] == '>') {
        ++k;
        break;
      }
      if (html[k] == '/') {
        self_closing = true;
        ++k;
        continue;
      }
      std::size_t n = k;
      while (n < html.size() && !std::isspace(static_cast<unsigned char>(html[n])) && html[n] != '=' && html[n] != '>' &&
             html[n] != '/')
        ++n;
      std::string name = lower(html.substr(k, n - k));
      std::string value;
      k = n;
      if (k < html.size() && html[k] == '=') {
        ++k;
        if (k < html.size() && (html[k] == '"' || html[k] == '\'')) {
          char q = html[k];
          std::size_t end = html.find(q, k + 1);
          if (end == std::string_view::npos) end = html.size();
          value = decode_entities(html.substr(k + 1, end - k - 1));
          k = std::min(end + 1, html.size());
        } else {
          std::size_t end = k;
          while (end < html.size() && !std::isspace(static_cast<unsigned char>(html[end])) && html[end] != '>') ++end;
          value = decode_entities(html.substr(k, end - k));
          k = end;
        }
      }
      if (n == k && name.empty()) ++k;  // a stray character: skip it
      if (!name.empty()) element->attrs.emplace(name, value);
    }
    i = k;
    HtmlElement* raw = element.get();
    raw->parent = open.back();
    open.back()->children.push_back(std::move(element));
    if (raw->tag == "script" || raw->tag == "style") {
      std::string close = "</" + raw->tag;
      std::size_t end = i;
      while (true) {
        end = html.find("</", end);
        if (end == std::string_view::npos || lower(html.substr(end, close.size())) == close) break;
        end += 2;
      }
      if (end == std::string_view::npos) end = html.size();
      raw->text = std::string(html.substr(i, end - i));
      std::size_t gt = html.find('>', end);
      i = gt == std::string_view::npos ? html.size() : gt + 1;
      continue;
    }
    if (!self_closing && !is_void(raw->tag)) open.push_back(raw);
  }
  return root;
}

}  // namespace fb::test
