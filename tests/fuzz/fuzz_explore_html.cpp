// libFuzzer target: the explore report page (orchestrator/explore/explore_html.h) over reports
// whose strings are arbitrary bytes (guest text: titles, details, stacks, the command, paths)
// and over the input itself parsed as explore.json when it is JSON.
// Invariants (a violation traps):
//  - the page is valid UTF-8 with no control byte but '\n' and '\t' (printable() keeps it as is);
//  - it holds exactly one "<script" (its own) and no "<img";
//  - every href is a fragment (#run-ID) or a path: no ':' in a path (no scheme), none starting "//".
#include "orchestrator/core/printable.h"
#include "orchestrator/explore/explore_html.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::size_t count(const std::string& s, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = s.find(needle); at != std::string::npos; at = s.find(needle, at + 1)) ++n;
  return n;
}

void check(const std::string& page) {
  if (fb::printable(page, std::string::npos, fb::TextLayout::Lines) != page) __builtin_trap();
  if (count(page, "<script") != 1 || count(page, "<img") != 0) __builtin_trap();
  for (auto at = page.find("href=\""); at != std::string::npos; at = page.find("href=\"", at + 1)) {
    auto end = page.find('"', at + 6);
    if (end == std::string::npos) __builtin_trap();
    std::string_view href(page.data() + at + 6, end - at - 6);
    if (!href.empty() && href[0] == '#') continue;  // a fragment of this page (a run id may hold anything)
    if (href.find(':') != std::string_view::npos || href.substr(0, 2) == "//") __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // The input's NUL-separated pieces as every string of a report of a fixed shape.
  std::vector<std::string> piece;
  for (std::size_t i = 0; i <= in.size();) {
    auto end = in.find('\0', i);
    if (end == std::string_view::npos) end = in.size();
    piece.emplace_back(in.substr(i, end - i));
    i = end + 1;
  }
  auto p = [&](std::size_t k) { return piece[k % piece.size()]; };
  nlohmann::json run = {{"id", p(0)},
                        {"site", {{"kind", "function"}, {"function", p(1)}, {"retval", p(2)}, {"mode", p(3)}, {"stack", {p(4), p(5)}}}},
                        {"outcome", p(6)},
                        {"title", p(7)},
                        {"detail", p(8)},
                        {"evidence", {{"console", p(9)}, {"kmsg", p(10)}}},
                        {"scenario", p(11)}};
  nlohmann::json crash = run;
  crash["outcome"] = "kernel-crash";
  crash["site"] = {{"kind", "nth"}, {"nth", 1}, {"stack", {p(12)}}};
  nlohmann::json report = {{"format", "faultbox-explore/1"},
                           {"complete", false},
                           {"stopped_because", p(13)},
                           {"workload", {{"command", {p(14), p(15)}}, {"scenario", p(16)}, {"step", p(17)}}},
                           {"kernel", {{"hash", p(18)}, {"release", p(19)}}},
                           {"accel", p(20)},
                           {"discovery", {{"functions", {{{"function", p(21)}, {"type", p(22)}, {"calls", 1}}}}, {"notes", {p(23)}}}},
                           {"runs", {run, crash}},
                           {"groups", {{{"id", p(24)}, {"outcome", p(25)}, {"title", p(26)}, {"stack", {p(27)}}, {"runs", {p(0)}}}}}};
  check(fb::render_explore_html(report));
  // The input as explore.json, when it is JSON at all.
  auto parsed = nlohmann::json::parse(in, nullptr, false);
  if (!parsed.is_discarded()) check(fb::render_explore_html(parsed));
  return 0;
}
