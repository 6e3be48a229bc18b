// The explore report page in a real browser: `faultbox explore-report` renders an explore.json,
// headless Chromium (Debian's `chromium`) loads it from the file system, and the test reads the
// DOM Chromium dumps (after the page's script ran) and a screenshot it takes. What the DOM must
// hold comes from the explore.json, not from the renderer's own output.
//
// Chromium runs as root here, so --no-sandbox; it gets its own process group, profile, HOME and
// caches in a temp dir, a deadline after which the whole group is killed, and the test checks
// that no process of the group is left. If Chromium is missing or cannot load even a trivial
// page, the binary exits 77 (CTest: skipped) saying why.
#include "common/files.h"
#include "tests/support/explore_sample.h"
#include "tests/support/headless_chromium.h"
#include "tests/support/html_dom.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

using namespace fb;
using namespace fb::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr int kWidth = 1400, kHeight = 2000;

// Where a test case leaves the page, its evidence, the dumped DOM and the screenshot for a
// person to look at; emptied when the case starts (CTest runs each case as its own process).
fs::path case_dir(const std::string& name) {
  fs::path d = fs::path(FAULTBOX_BROWSER_OUTPUT_DIR) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A report dir as `faultbox explore` leaves it: explore.json and the evidence files it names.
fs::path write_report_dir(const fs::path& dir, const json& report) {
  fs::create_directories(dir);
  for (const auto& run : report["runs"])
    for (const auto& [kind, path] : run["evidence"].items()) {
      fs::create_directories((dir / path.get<std::string>()).parent_path());
      std::ofstream(dir / path.get<std::string>()) << kind << " of run " << run["id"] << "\n";
    }
  auto path = dir / "explore.json";
  // The sample's invalid UTF-8 becomes U+FFFD here, as the engine's dump would make it.
  std::ofstream(path) << report.dump(2, ' ', false, json::error_handler_t::replace);
  return path;
}

// Without a working chromium a case is skipped (CTest's SKIP_RETURN_CODE), saying why.
HeadlessChromium browser([](const std::string& why) {
  std::cerr << "SKIP: " << why << "\n";
  std::exit(77);
});

std::string dump_dom(const fs::path& page, const std::string& fragment = {}) { return browser.dump_dom(page, fragment); }

fs::path render(const fs::path& explore_json) {
  Run r = run({faultbox_binary(), "explore-report", explore_json.string()});
  INFO(r.err);
  REQUIRE(r.status.code == 0);
  CHECK(r.err.find("explore report: " + (explore_json.parent_path() / "report.html").string()) != std::string::npos);
  return explore_json.parent_path() / "report.html";
}

}  // namespace

TEST_CASE("Chromium shows every run of explore.json in the matrix, with its evidence links", "[browser]") {
  json report = sample_explore_report();
  fs::path dir = case_dir("matrix");
  fs::path page = render(write_report_dir(dir, report));
  std::string dom = dump_dom(page);
  std::ofstream(dir / "dom.html") << dom;
  auto doc = parse_html(dom);

  // The page's own script ran (Chromium allowed it by its CSP hash): it marks <body>.
  const HtmlElement* body = doc->first("body");
  REQUIRE(body);
  CHECK(body->has_attr("data-filter"));
  // Nothing the guest wrote ran or became an element.
  CHECK_FALSE(body->has_attr("data-pwned"));
  CHECK(doc->by_id(kHostileMarker) == nullptr);
  CHECK(doc->all("script").size() == 1);
  CHECK(doc->all("img").empty());

  // One row per distinct site of the JSON, each run's cell with its outcome and evidence links,
  // each run's detail row, the counts (the same check the explore VM test makes on a real report).
  check_page_shows_report(*doc, report, dir);
  // The hostile detail is there as text.
  CHECK(doc->by_id("run-6")->text.find("<script>document.body.setAttribute('data-pwned','1')</script>") != std::string::npos);

  // Crash rows first in the nth matrix.
  auto nth_rows = doc->all("table", "matrix").front()->all("tr", "site");
  REQUIRE(nth_rows.size() >= 2);
  CHECK(nth_rows[0]->first("td", "outcome")->attr("data-outcome") == "kernel-crash");
  CHECK(nth_rows[1]->first("td", "outcome")->attr("data-outcome") == "kernel-crash");

  // Groups as the JSON says.
  auto groups = doc->all("tr", "group");
  CHECK(groups.size() == report["groups"].size());
  for (const auto& g : report["groups"]) {
    const HtmlElement* tr = doc->by_id("group-" + std::to_string(g["id"].get<int>()));
    REQUIRE(tr);
    std::set<std::string> runs_json, runs_dom;
    for (const auto& id : g["runs"]) runs_json.insert(std::to_string(id.get<int>()));
    for (const HtmlElement* a : tr->all("a")) runs_dom.insert(a->attr("data-run"));
    CHECK(runs_dom == runs_json);
  }
  CHECK(doc->by_id("partial") == nullptr);
}

TEST_CASE("the page opened with #filter=kernel-crash hides every row without a crash", "[browser]") {
  json report = sample_explore_report();
  fs::path dir = case_dir("filtered");
  fs::path page = render(write_report_dir(dir, report));
  auto doc = parse_html(dump_dom(page, "#filter=kernel-crash"));
  REQUIRE(doc->first("body"));
  CHECK(doc->first("body")->attr("data-filter") == "kernel-crash");
  std::size_t shown = 0;
  for (const HtmlElement* tr : doc->all("tr", "site")) {
    bool crash = tr->attr("data-outcomes").find("kernel-crash") != std::string::npos;
    INFO(tr->attr("data-site"));
    CHECK(tr->has_attr("hidden") == !crash);
    shown += !tr->has_attr("hidden");
  }
  CHECK(shown == 2);
}

TEST_CASE("an interrupted exploration shows the partial banner", "[browser]") {
  json report = sample_explore_report();
  report["complete"] = false;
  report["runs"].back()["outcome"] = "not-run";
  fs::path page = render(write_report_dir(case_dir("partial"), report));
  auto doc = parse_html(dump_dom(page));
  const HtmlElement* banner = doc->by_id("partial");
  REQUIRE(banner);
  CHECK(banner->text.rfind("partial: interrupted", 0) == 0);
}

TEST_CASE("the screenshot shows the matrix in its colours", "[browser]") {
  fs::path dir = case_dir("screenshot");
  fs::path page = render(write_report_dir(dir, sample_explore_report()));
  fs::path png = dir / "report.png";
  browser.screenshot(page, png, kWidth, kHeight);
  auto bytes = read_file(png);
  REQUIRE(bytes.ok());
  Image img = decode_png(*bytes);
  CHECK(img.width == unsigned(kWidth));
  CHECK(img.height == unsigned(kHeight));
  std::cerr << "screenshot: " << png << " (" << bytes->size() << " bytes)\n";
  // Cells of the three commonest findings are painted in the page's colours, each at least a
  // cell's worth of pixels, below the facts at the top.
  ColourArea crash = area_of(img, 0xc62828), silent = area_of(img, 0xfdd835), handled = area_of(img, 0x66bb6a);
  INFO("crash " << crash.count << " px, silent " << silent.count << " px, handled " << handled.count << " px");
  CHECK(crash.count > 2000);
  CHECK(silent.count > 2000);
  CHECK(handled.count > 2000);
  CHECK(crash.bottom > 300);
}

TEST_CASE("explore-report refuses what is not an explore report, leaving no page", "[browser]") {
  ScratchDir dir;
  auto refused = [&](const std::string& name, const std::string& text, const std::string& expected) {
    fs::path p = dir.path() / name;
    std::ofstream(p) << text;
    Run r = run({faultbox_binary(), "explore-report", p.string()});
    INFO(r.err);
    CHECK(r.status.code == 2);
    CHECK(r.err.find(expected) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_FALSE(fs::exists(dir.path() / "report.html"));
  };
  refused("broken.json", "{\n  \"format\": \"faultbox-explore/1\",\n  \"runs\": [1, 2,,]\n}\n", "broken.json:3:17: not JSON");
  refused("other.json", "{\"format\": \"faultbox/1\"}", "other.json: not a faultbox explore report (format faultbox/1");
  refused("array.json", "[]", "not a faultbox explore report (format none");
  Run missing = run({faultbox_binary(), "explore-report", (dir.path() / "absent.json").string()});
  CHECK(missing.status.code == 2);
  std::ofstream(dir.path() / "good.json") << sample_explore_report().dump(-1, ' ', false, json::error_handler_t::replace);
  Run no_dir = run({faultbox_binary(), "explore-report", (dir.path() / "good.json").string(), "-o",
                    (dir.path() / "no/such/dir/r.html").string()});
  CHECK(no_dir.status.code == 2);
  CHECK(no_dir.err.find("is not a directory") != std::string::npos);
}
