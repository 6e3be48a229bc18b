#pragma once
// Untrusted text (the guest's output, console and kernel log, names from a scenario) made safe
// to show a person: a terminal acts on control bytes (ESC sequences retitle or clear it, CR
// overwrites a line), so they are shown as visible `\xNN` escapes instead. Raw bytes stay in
// JSON and the evidence logs; only what is printed or written for reading goes through here.
#include <cstddef>
#include <string>
#include <string_view>

namespace fb {

enum class TextLayout {
  OneLine,  // a title or a name: everything but printable ASCII escaped, newlines too
  Lines,    // a report: '\n' and '\t' kept, valid UTF-8 kept except the C1 controls U+0080..U+009F
};

// At most `cap` bytes of s are read (the escapes make the result longer).
std::string printable(std::string_view s, std::size_t cap = std::string_view::npos,
                      TextLayout layout = TextLayout::OneLine);

// Text for an XML attribute or element (a JUnit report, a libvirt domain): markup characters as
// entities, and the control bytes XML 1.0 cannot carry (all below 0x20 but '\n' and '\t') as
// spaces.
std::string xml_escape(std::string_view s);

// Text for an HTML page, in an element or a quoted attribute value: shown as printable() shows
// it (control bytes, C1 controls and invalid UTF-8 as `\xNN`, so the page is valid UTF-8 and
// shows what the bytes were), then the markup characters as entities, so guest text can never
// open a tag or leave an attribute.
std::string html_escape(std::string_view s, TextLayout layout = TextLayout::Lines);

}  // namespace fb
