// The explore report's HTML page (orchestrator/explore/explore_html.cpp), read back through an
// element tree: rows, columns and their order, cells and links, the partial banner, and guest
// text that tries to be markup.
#include "orchestrator/core/printable.h"
#include "orchestrator/explore/explore.h"
#include "orchestrator/explore/explore_html.h"
#include "tests/support/explore_sample.h"
#include "tests/support/html_dom.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using fb::render_explore_html;
using fb::test::HtmlElement;
using fb::test::parse_html;
using nlohmann::json;

namespace {

std::vector<std::string> site_rows(const HtmlElement& doc, const std::string& kind) {
  std::vector<std::string> out;
  const HtmlElement* table = nullptr;
  for (const HtmlElement* t : doc.all("table", "matrix"))
    if (t->attr("data-kind") == kind) table = t;
  if (!table) return out;
  for (const HtmlElement* tr : table->all("tr", "site")) out.push_back(tr->attr("data-site"));
  return out;
}

const HtmlElement* site_row(const HtmlElement& doc, const std::string& site) {
  for (const HtmlElement* tr : doc.all("tr", "site"))
    if (tr->attr("data-site") == site) return tr;
  return nullptr;
}

std::vector<std::string> columns(const HtmlElement& doc, const std::string& kind) {
  std::vector<std::string> out;
  for (const HtmlElement* t : doc.all("table", "matrix"))
    if (t->attr("data-kind") == kind)
      for (const HtmlElement* th : t->all("th", "variant")) out.push_back(th->attr("data-variant"));
  return out;
}

// The run ids of the elements whose tag is `tag` and whose text holds `needle`.
bool any_element_text_contains(const HtmlElement& doc, const std::string& tag, const std::string& needle) {
  for (const HtmlElement* e : doc.all(tag))
    if (e->text.find(needle) != std::string::npos) return true;
  return false;
}

json minimal_report() {
  return {{"format", "faultbox-explore/1"}, {"complete", true}, {"runs", json::array()}, {"groups", json::array()}};
}

json nth_run(int id, int nth, const std::string& outcome) {
  return {{"id", id}, {"site", {{"kind", "nth"}, {"nth", nth}, {"stack", {"kmem_cache_alloc", "getname_flags"}}}}, {"outcome", outcome}};
}

}  // namespace

TEST_CASE("explore page: one row per site, crash rows then silent ones first, variants as columns", "[explore_html]") {
  auto doc = parse_html(render_explore_html(fb::test::sample_explore_report()));
  // nth rows by their worst outcome (crash, silent, handled, pass), then by N.
  CHECK(site_rows(*doc, "nth") == std::vector<std::string>{"nth:3", "nth:5", "nth:4", "nth:1", "nth:2", "nth:6", "nth:7"});
  CHECK(columns(*doc, "nth") == std::vector<std::string>{"nth"});
  // Function rows: hang before warning before handled/pass; columns once before always.
  CHECK(site_rows(*doc, "function") == std::vector<std::string>{"function:__filemap_add_folio", "function:should_fail_alloc_page",
                                                               "function:should_failslab", "function:should_fail_bio"});
  CHECK(columns(*doc, "function") == std::vector<std::string>{"-ENOMEM/once", "1/once", "-EIO/once", "-ENOMEM/always", "1/always"});
  CHECK(site_rows(*doc, "block") == std::vector<std::string>{"block:dm_flakey"});
  CHECK(columns(*doc, "block") == std::vector<std::string>{"drop_writes", "error_writes"});

  // A function row has a cell per column: the variants it did not run are marked absent.
  const HtmlElement* failslab = site_row(*doc, "function:should_failslab");
  REQUIRE(failslab);
  std::vector<std::string> cells;
  for (const HtmlElement* td : failslab->all("td", "outcome")) cells.push_back(td->attr("data-outcome"));
  CHECK(cells == std::vector<std::string>{"handled", "none", "none", "handled", "none"});
  CHECK(failslab->attr("data-outcomes") == "handled");
}

TEST_CASE("explore page: crash, hang and warning cells link their evidence relative to the report dir", "[explore_html]") {
  auto doc = parse_html(render_explore_html(fb::test::sample_explore_report()));
  const HtmlElement* crash = site_row(*doc, "nth:3");
  REQUIRE(crash);
  const HtmlElement* cell = crash->first("td", "outcome");
  REQUIRE(cell);
  CHECK(cell->has_class("kernel-crash"));
  CHECK(cell->attr("data-run") == "3");
  std::vector<std::string> hrefs;
  for (const HtmlElement* a : cell->all("a")) hrefs.push_back(a->attr("href"));
  CHECK(hrefs == std::vector<std::string>{"#run-3", "runs/3/console.log", "runs/3/kmsg.log", "runs/3/stack.txt", "runs/3/output.txt"});
  // The run's row in the runs table is where #run-3 points, with its title and scenario.
  const HtmlElement* run = doc->by_id("run-3");
  REQUIRE(run);
  CHECK(run->text.find("BUG: kernel NULL pointer dereference in d_alloc") != std::string::npos);
  REQUIRE(run->first("a", "scenario"));
  CHECK(run->first("a", "scenario")->attr("href") == "scenarios/3-nth-3.toml");
  // A hang cell links its evidence too; a handled cell only its run.
  const HtmlElement* hang = site_row(*doc, "function:should_fail_alloc_page");
  REQUIRE(hang);
  bool hang_links_console = false;
  for (const HtmlElement* a : hang->all("a", "evidence")) hang_links_console |= a->attr("href") == "runs/11/console.log";
  CHECK(hang_links_console);
  const HtmlElement* handled = site_row(*doc, "nth:1");
  REQUIRE(handled);
  CHECK(handled->all("a", "evidence").empty());
}

TEST_CASE("explore page: counts, legend, facts and groups as the report says", "[explore_html]") {
  json report = fb::test::sample_explore_report();
  auto doc = parse_html(render_explore_html(report));
  for (const HtmlElement* b : doc->all("button", "filter")) {
    std::string outcome = b->attr("data-outcome");
    INFO(outcome);
    CHECK(b->attr("data-count") == std::to_string(report["counts"][outcome].get<int>()));
  }
  CHECK(doc->all("button", "filter").size() == 9);
  REQUIRE(doc->by_id("fact-workload"));
  CHECK(doc->by_id("fact-workload")->text.find("mkdir /tmp/x") != std::string::npos);
  CHECK(doc->by_id("fact-kernel")->text.find("75e506b3e68b3ceb") != std::string::npos);
  CHECK(doc->by_id("fact-vms")->text.find("3 booted, 2 replaced, 2 jobs") != std::string::npos);
  CHECK(doc->by_id("fact-vms")->text.find("overhead median 0.21 s") != std::string::npos);
  CHECK(doc->by_id("partial") == nullptr);
  // Groups: the crash two sites reach first, listing both runs.
  auto groups = doc->all("tr", "group");
  REQUIRE(groups.size() == 4);
  CHECK(groups[0]->attr("data-group") == "1");
  std::vector<std::string> linked;
  for (const HtmlElement* a : groups[0]->all("a")) linked.push_back(a->attr("href") + " " + a->text);
  CHECK(linked == std::vector<std::string>{"#run-3 nth:3", "#run-5 nth:5"});
  CHECK(groups[1]->attr("data-outcomes") == "silent");
  CHECK(doc->all("tr", "function").size() == 4);
  CHECK(doc->all("tr", "run").size() == report["runs"].size());
}

TEST_CASE("explore page: hostile guest text stays text", "[explore_html]") {
  json report = minimal_report();
  const std::string hostile = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>&amp;\x1b[2J\x07\r\x7f\xc2\x9b\xff\xfe";
  json run = nth_run(1, 1, "kernel-crash");
  run["title"] = hostile;
  run["detail"] = hostile;
  run["site"]["stack"] = {hostile, "getname_flags"};
  run["evidence"] = {{"console", "javascript:alert(3)"}, {"kmsg", "//evil.example/x"}, {"stack", "runs/1/st\"ack <x>.txt"}};
  run["scenario"] = "/abs/dir/1 \"q\".toml";
  report["runs"].push_back(run);
  report["workload"] = {{"command", {"sh", "-c", hostile}}};
  report["accel"] = hostile;
  report["groups"].push_back({{"id", 1}, {"outcome", "kernel-crash"}, {"title", hostile}, {"stack", {hostile}}, {"runs", {1}}});
  std::string page = render_explore_html(report);

  // Valid UTF-8 throughout, no control byte but newlines, and the guest's bytes shown as \xNN.
  CHECK(fb::printable(page, std::string::npos, fb::TextLayout::Lines) == page);
  CHECK(page.find("\\x1b[2J") != std::string::npos);
  CHECK(page.find("\\xff\\xfe") != std::string::npos);
  CHECK(page.find("\\xc2\\x9b") != std::string::npos);  // a C1 control (CSI) is shown, not kept
  auto doc = parse_html(page);
  // One script (the page's own), no image, nothing with an event handler.
  CHECK(doc->all("script").size() == 1);
  CHECK(doc->all("img").empty());
  for (const HtmlElement* e : doc->all(""))
    for (const auto& [name, value] : e->attrs) CHECK(name.rfind("on", 0) != 0);
  // The markup shows up as text where the JSON put it.
  CHECK(any_element_text_contains(*doc, "div", "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>&amp;"));
  CHECK(any_element_text_contains(*doc, "title", "sh -c <script>alert(1)</script>"));
  // Links: only paths, percent-encoded, no scheme; a network-path reference gets none.
  const HtmlElement* cell = doc->first("td", "outcome");
  REQUIRE(cell);
  std::vector<std::string> hrefs;
  for (const HtmlElement* a : cell->all("a")) hrefs.push_back(a->attr("href"));
  CHECK(hrefs == std::vector<std::string>{"#run-1", "javascript%3Aalert%283%29", "runs/1/st%22ack%20%3Cx%3E.txt"});
  const HtmlElement* scenario = doc->first("a", "scenario");
  REQUIRE(scenario);
  CHECK(scenario->attr("href") == "/abs/dir/1%20%22q%22.toml");
}

TEST_CASE("explore page: partial banner when the exploration did not complete", "[explore_html]") {
  json report = fb::test::sample_explore_report();
  report["complete"] = false;
  auto doc = parse_html(render_explore_html(report));
  const HtmlElement* banner = doc->by_id("partial");
  REQUIRE(banner);
  CHECK(banner->text.rfind("partial: interrupted ", 0) == 0);
  CHECK(doc->by_id("format") == nullptr);
  // The engine's reason, when it says more than "interrupted".
  report["stopped_because"] = "over --budget";
  doc = parse_html(render_explore_html(report));
  REQUIRE(doc->by_id("partial"));
  CHECK(doc->by_id("partial")->text.rfind("partial: interrupted (over --budget)", 0) == 0);
}

TEST_CASE("explore page: an empty report and a damaged one still render", "[explore_html]") {
  auto doc = parse_html(render_explore_html(minimal_report()));
  CHECK(doc->all("tr", "site").empty());
  CHECK(doc->by_id("no-runs") != nullptr);
  CHECK(doc->all("button", "filter").size() == 9);
  for (const HtmlElement* b : doc->all("button", "filter")) CHECK(b->attr("data-count") == "0");

  // Wrong types everywhere, an unknown outcome and site kind: rendered, never thrown.
  json damaged = {{"format", 7},
                  {"complete", "no"},
                  {"workload", "mkdir"},
                  {"vms", {1, 2}},
                  {"runs", {nth_run(1, 1, "exploded"), 5, {{"id", "x"}, {"site", {{"kind", "kprobe"}}}}, {{"site", nullptr}}}},
                  {"groups", {{{"runs", "1"}}}}};
  std::string page;
  REQUIRE_NOTHROW(page = render_explore_html(damaged));
  auto d = parse_html(page);
  REQUIRE(d->by_id("format"));
  const HtmlElement* row = site_row(*d, "nth:1");
  REQUIRE(row);
  REQUIRE(row->first("td", "outcome"));
  CHECK(row->first("td", "outcome")->attr("data-outcome") == "unknown");
  CHECK(row->first("td", "outcome")->text.find("exploded") != std::string::npos);
  CHECK(render_explore_html(json::array()).find("</html>") != std::string::npos);
}

TEST_CASE("explore page: needs no network, and only its own script may run", "[explore_html]") {
  std::string page = render_explore_html(fb::test::sample_explore_report());
  auto doc = parse_html(page);
  std::string csp;
  for (const HtmlElement* m : doc->all("meta"))
    if (m->attr("http-equiv") == "Content-Security-Policy") csp = m->attr("content");
  CHECK(csp.find("default-src 'none'") != std::string::npos);
  CHECK(csp.find("script-src 'sha256-") != std::string::npos);
  std::string script_src = csp.substr(csp.find("script-src"));
  script_src = script_src.substr(0, script_src.find(';'));
  CHECK(script_src.find("unsafe") == std::string::npos);
  // Nothing refers outside the page: no src, no stylesheet link, no absolute URL in an href.
  for (const HtmlElement* e : doc->all("")) {
    CHECK_FALSE(e->has_attr("src"));
    std::string href = e->attr("href");
    CHECK(href.find("://") == std::string::npos);
  }
  CHECK(doc->all("link").empty());
}

TEST_CASE("explore page: block sites as explore writes them, a row per disk and a column per request", "[explore_html]") {
  fb::ExploreReport rep;
  rep.workload.scenario = "s.toml";
  rep.workload.step = "work";
  rep.complete = true;
  rep.discovery.disks = {{"data", 0, 2, 0, 1}};
  rep.discovery.disks_counted = true;
  auto add = [&](fb::Site site, fb::Outcome o) {
    fb::ExploreRun r;
    r.id = static_cast<int>(rep.runs.size()) + 1;
    r.site = std::move(site);
    r.outcome = o;
    r.detail = "d";
    rep.runs.push_back(r);
  };
  add(fb::Site::block("data", 1), fb::Outcome::Handled);
  add(fb::Site::block("data", 2), fb::Outcome::DataLoss);
  add(fb::Site::block("data", 3), fb::Outcome::Pass);
  add(fb::Site::block_always("data"), fb::Outcome::Handled);
  add(fb::Site::block("log", 1), fb::Outcome::Silent);  // a second disk: a row of its own
  add(fb::Site::block("log", 2), fb::Outcome::Pass);
  add(fb::Site::block("log", 3), fb::Outcome::Pass);
  add(fb::Site::block("log", 4), fb::Outcome::Pass);
  add(fb::Site::block_always("log"), fb::Outcome::Handled);
  auto doc = parse_html(render_explore_html(rep.to_json()));
  // Rows by their worst outcome (silent before data loss), columns by request, "every request" last.
  CHECK(site_rows(*doc, "block") ==
        std::vector<std::string>{"block:fail_make_request disk:log", "block:fail_make_request disk:data"});
  CHECK(columns(*doc, "block") ==
        std::vector<std::string>{"request 1", "request 2", "request 3", "request 4", "every request"});
  const HtmlElement* row = site_row(*doc, "block:fail_make_request disk:data");
  REQUIRE(row);
  std::vector<std::string> cells;
  for (const HtmlElement* td : row->all("td", "outcome")) cells.push_back(td->attr("data-outcome"));
  CHECK(cells == std::vector<std::string>{"handled", "data-loss", "pass", "none", "handled"});
  REQUIRE(doc->by_id("fact-discovery"));
  CHECK(doc->by_id("fact-discovery")->text.find("disk data: 3 block requests") != std::string::npos);
}
