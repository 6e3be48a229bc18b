#pragma once
// A small HTML reader for tests: the element tree of a page (tags, attributes with entities
// decoded, text), enough to check what a page holds by its elements rather than by its bytes.
// It reads well-formed serialized HTML: what Chromium's --dump-dom writes and what faultbox
// renders (every non-void element closed); it is not a general HTML5 parser.
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fb::test {

struct HtmlElement {
  std::string tag;  // lower case; "#document" for the root
  std::map<std::string, std::string> attrs;
  std::string text;  // all descendant text, decoded (a <script>'s or <style>'s only its own)
  std::vector<std::unique_ptr<HtmlElement>> children;
  const HtmlElement* parent = nullptr;

  bool has_attr(const std::string& name) const { return attrs.count(name) != 0; }
  std::string attr(const std::string& name) const;
  bool has_class(std::string_view cls) const;
  // Every descendant (not this one) with the tag ("" for any) and, when given, the class.
  std::vector<const HtmlElement*> all(std::string_view tag, std::string_view cls = {}) const;
  // The first descendant like all() would list, or nullptr.
  const HtmlElement* first(std::string_view tag, std::string_view cls = {}) const;
  // The descendant whose id attribute is `id`, or nullptr.
  const HtmlElement* by_id(std::string_view id) const;
};

std::unique_ptr<HtmlElement> parse_html(std::string_view html);

}  // namespace fb::test
