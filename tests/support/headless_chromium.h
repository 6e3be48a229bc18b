#pragma once
// Headless Chromium (Debian's `chromium`, or $FAULTBOX_CHROMIUM) for tests that look at the
// explore report page as a person's browser shows it: the DOM it dumps after the page's script
// ran, and a screenshot decoded here (zlib). As root, so --no-sandbox; each run gets its own
// process group, profile, HOME and caches in a temp dir, a deadline after which the group is
// killed, and no process of the group may be left.
#include "common/process.h"
#include "tests/support/html_dom.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace fb::test {

struct BrowserRun {
  ExitStatus status;
  std::string out, err;
  double seconds = 0;
};

class HeadlessChromium {
 public:
  // Called with the reason when chromium is missing or cannot load even a trivial page; it must
  // not return: the browser tier exits 77 (skipped), a VM test FAILs.
  using Unavailable = std::function<void(const std::string& why)>;
  explicit HeadlessChromium(Unavailable unavailable) : unavailable_(std::move(unavailable)) {}

  BrowserRun run(const std::vector<std::string>& args);
  // The DOM of file://page#fragment after its script ran.
  std::string dump_dom(const std::filesystem::path& page, const std::string& fragment = {});
  // A width x height screenshot of the page written to png.
  BrowserRun screenshot(const std::filesystem::path& page, const std::filesystem::path& png, int width, int height);
  // After a run on the page failed: unavailable() when a trivial page fails too, else the test fails.
  void require_works(const BrowserRun& failed);

  static constexpr std::chrono::seconds kDeadline{90};  // a cold start on a loaded 2-core host takes a few seconds

 private:
  std::string binary();
  Unavailable unavailable_;
};

// The pixels of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes).
struct Image {
  unsigned width = 0, height = 0, channels = 0;
  std::vector<unsigned char> pixels;
};
Image decode_png(const std::string& png);

// Pixels of exactly this colour, and the rows they span.
struct ColourArea {
  std::size_t count = 0;
  unsigned top = ~0u, bottom = 0;
};
ColourArea area_of(const Image& img, unsigned rgb);

// The explore page's matrix (orchestrator/explore/explore_html): the row key of a run's site
// ("nth:5", "function:NAME", "block:FAULT") and the cell of a run in its site's row.
std::string site_key(const nlohmann::json& run);
const HtmlElement* cell_of_run(const HtmlElement& doc, const nlohmann::json& run);

// What the page must show of an explore.json, checked on the DOM Chromium dumped: one row per
// distinct site, each run's cell with its outcome, crash/hang/warning/data-loss cells linking
// exactly the run's evidence files (which exist under report_dir), each run's detail row with
// its title, and the counts of the filter buttons.
void check_page_shows_report(const HtmlElement& doc, const nlohmann::json& report, const std::filesystem::path& report_dir);

}  // namespace fb::test
