// `faultbox explore` on the real kernel: discovery, one run per site on warm VMs, the report
// page read back in headless Chromium, a real kernel bug (the bisect fixture's culprit commit)
// found by exploration with the VM replaced mid-way and the emitted scenario reproducing it,
// and Ctrl-C. Bounded by --sites/--function so the cases stay short under TCG.
#include "tests/support/bisect_fixture.h"
#include "tests/support/headless_chromium.h"
#include "tests/vm/vm_support.h"

#include <csignal>
#include <iostream>

using namespace fb;
using namespace fb::test;

namespace {

nlohmann::json read_json(const std::filesystem::path& p) {
  auto text = read_file(p);
  REQUIRE(text.ok());
  return nlohmann::json::parse(*text);
}

// mkdir reaches the mkdir system call by one of these two names, depending on its libc.
const std::vector<std::string> kMkdirSyscalls = {"--function", "__x64_sys_mkdir", "--function", "__x64_sys_mkdirat"};

// The report page is part of what explore promises: without a working Chromium this tier
// cannot check it, and the case fails saying why (scripts/setup installs Debian's chromium).
HeadlessChromium browser([](const std::string& why) { FAIL("headless Chromium cannot check report.html: " << why); });

// The outcome colours of the page's cells (orchestrator/explore/explore_html.cpp).
const std::map<std::string, unsigned> kOutcomeColour = {
    {"kernel-crash", 0xc62828}, {"silent", 0xfdd835}, {"hang", 0x6a1b9a}, {"warning", 0xef6c00},
    {"infra-error", 0x757575},  {"handled", 0x66bb6a}, {"pass", 0xc8e6c9}};

// The report.html explore wrote beside explore.json, as Chromium shows it: the DOM it dumps has
// one row per discovered site and a cell per run with the run's outcome (from this run's
// explore.json), and a screenshot decodes to a page with a cell's worth of each outcome's colour.
void check_report_page_in_chromium(const std::filesystem::path& out, const nlohmann::json& j) {
  auto dom = browser.dump_dom(out / "report.html");
  auto doc = parse_html(dom);
  REQUIRE(doc->first("body"));
  CHECK(doc->first("body")->has_attr("data-filter"));  // the page's own script ran
  check_page_shows_report(*doc, j, out);
  std::set<std::string> nth_rows;
  for (const HtmlElement* tr : doc->all("tr", "site"))
    if (tr->attr("data-site").rfind("nth:", 0) == 0) nth_rows.insert(tr->attr("data-site"));
  CHECK(nth_rows.size() == j["discovery"]["nth_sites"].get<std::size_t>());

  auto png = out / "report.png";
  constexpr int kWidth = 1400, kHeight = 3000;  // tall enough for every row of a mkdir exploration
  browser.screenshot(out / "report.html", png, kWidth, kHeight);
  auto bytes = read_file(png);
  REQUIRE(bytes.ok());
  Image img = decode_png(*bytes);
  CHECK(img.width == unsigned(kWidth));
  CHECK(img.height == unsigned(kHeight));
  for (auto& [outcome, colour] : kOutcomeColour) {
    if (j["counts"].value(outcome, 0) == 0) continue;
    ColourArea a = area_of(img, colour);
    INFO(outcome << ": " << a.count << " px of #" << std::hex << colour);
    CHECK(a.count > 300);  // at least most of one cell, not a stray pixel
  }
  std::cerr << "report page: " << (out / "report.html").string() << ", screenshot " << bytes->size() << " bytes\n";
}

// The kernel of the bisect fixture's culprit commit (getname_flags() without its NULL check),
// through `faultbox kernel build --tree --rev`: a cache hit once bisect or an earlier run built
// it, else an incremental build in the worktree and build dir bisect uses.
std::string culprit_kernel(const ScratchDir& rt) {
  RunOptions o;
  o.timeout = std::chrono::seconds(3600);
  auto r = faultbox_in(rt, "kernel", {"build", "--tree", bisect_fixture_repo().string(), "--rev", "fixture-culprit", "--jobs", "2"}, o);
  INFO(r.err);
  REQUIRE(r.status.code == 0);
  std::string bz = r.out.substr(0, r.out.find('\n'));
  REQUIRE(std::filesystem::exists(bz));
  std::cerr << "culprit kernel " << bz << " in " << r.seconds << " s\n";
  return bz;
}

}  // namespace

TEST_CASE("explore of mkdir: every nth site and the mkdir syscall are run on one warm VM, every cell explained") {
  ScratchDir rt;
  auto out = rt.path() / "report";
  std::vector<std::string> args = {"--out", out.string(), "--sites", "nth,function"};
  args.insert(args.end(), kMkdirSyscalls.begin(), kMkdirSyscalls.end());
  args.insert(args.end(), {"--", "mkdir", "/tmp/x"});
  auto r = faultbox_in(rt, "explore", args);
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = read_json(out / "explore.json");
  CHECK(j["format"] == "faultbox-explore/1");
  CHECK(j["complete"] == true);
  unsigned nth = j["discovery"]["nth_sites"];
  CHECK(nth >= 5);
  bool syscall_found = false;
  for (auto& f : j["discovery"]["functions"])
    if (f["function"] == "__x64_sys_mkdir" || f["function"] == "__x64_sys_mkdirat") {
      syscall_found = true;
      CHECK(f["calls"] == 1);
    }
  CHECK(syscall_found);
  CHECK(j["runs"].size() == nth + 3);  // each nth once, the syscall with -ENOMEM, -EIO, -EINVAL
  int handled = 0;
  for (auto& run : j["runs"]) {
    INFO(run.dump());
    std::string o = run["outcome"];
    CHECK(o != "infra-error");
    CHECK(o != "not-run");
    CHECK(!run["detail"].get<std::string>().empty());
    if (o == "handled") ++handled;
    if (run["site"]["kind"] == "function") {
      // The syscall fails with exactly the injected errno, and mkdir says so.
      CHECK(o == "handled");
      CHECK(run["fired"] == 1);
    }
    if (run["fired"] == 0) CHECK(o == "pass");
  }
  CHECK(handled >= 3);
  CHECK(j["vms"]["booted"] >= 1);
  CHECK(j["vms"]["run_overhead_s_median"] > 0);
  CHECK(std::filesystem::exists(out / "explore.txt"));
  // The page beside the JSON has a cell for every run (tests/browser reads it in Chromium).
  auto page = read_file(out / "report.html");
  REQUIRE(page.ok());
  for (auto& run : j["runs"])
    CHECK_THAT(*page, Catch::Contains(fmt::format("data-run=\"{}\"", run["id"].get<int>())));
  CHECK_THAT(r.out, Catch::Contains("outcomes: "));
  CHECK_THAT(r.err, Catch::Contains("[" + std::to_string(nth + 3) + "/" + std::to_string(nth + 3) + "]"));
  check_report_page_in_chromium(out, j);
  require_no_leftovers(rt);
}

TEST_CASE("explore finds a real kernel bug: on the culprit commit's kernel the getname sites crash, the VM is "
          "replaced, exploration goes on to the end, the emitted scenario reproduces the crash") {
  ScratchDir rt;
  auto kernel = culprit_kernel(rt);
  auto out = rt.path() / "report";
  auto emit = out / "scenarios";
  // Every fail-nth site of mkdir: the one where getname_flags()'s names_cache allocation fails
  // dereferences NULL on this kernel (make-bisect-fixture.sh's culprit), the others are handled.
  auto r = faultbox_in(rt, "explore", {"--kernel", kernel, "--out", out.string(), "--emit-scenarios", emit.string(),
                                       "--sites", "nth", "--", "mkdir", "/tmp/x"});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = read_json(out / "explore.json");
  CHECK(j["complete"] == true);
  unsigned nth = j["discovery"]["nth_sites"];
  REQUIRE(j["runs"].size() == nth);
  std::vector<int> crashed;
  for (auto& run : j["runs"]) {
    INFO(run.dump());
    std::string o = run["outcome"];
    CHECK(o != "infra-error");
    CHECK(o != "not-run");
    if (o != "kernel-crash") continue;
    crashed.push_back(run["id"]);
    CHECK(run["site"]["kind"] == "nth");
    CHECK_THAT(run["title"].get<std::string>(), Catch::Contains("getname_flags"));
    CHECK(std::filesystem::exists(out / run["evidence"]["console"].get<std::string>()));
    REQUIRE(run["scenario"].is_string());
  }
  REQUIRE(!crashed.empty());
  // The crash was found by exploring, not forced: other sites of the same workload are handled.
  CHECK(j["counts"]["handled"].get<int>() >= 1);
  // Each crash replaced the VM, and the runs after it ran on the new one to the end.
  CHECK(j["vms"]["booted"].get<int>() >= 2);
  CHECK(j["vms"]["replaced"].get<int>() >= 1);
  CHECK(crashed.front() < int(nth));  // so at least one run came after a crash
  // One bug, one group.
  nlohmann::json crash_group;
  for (auto& g : j["groups"])
    if (g["runs"] == nlohmann::json(crashed)) crash_group = g;
  CHECK(crash_group.is_object());
  CHECK_THAT(r.out, Catch::Contains("kernel-crash (" + std::to_string(crashed.size()) + ")"));
  check_report_page_in_chromium(out, j);

  auto scenario = out / j["runs"][crashed.front() - 1]["scenario"].get<std::string>();
  auto check = faultbox_in(rt, "check", {scenario.string()});
  CHECK(check.status.code == 0);
  auto again = faultbox_in(rt, "run", {"--kernel", kernel, scenario.string()});
  INFO(again.out << again.err);
  CHECK(again.status.code == 3);  // kernel-crash, as the row says
  CHECK_THAT(again.out, Catch::Contains("getname_flags"));
  require_no_leftovers(rt);
}

TEST_CASE("explore: Ctrl-C writes the partial report (complete = false, not-run rows) and leaves no VM") {
  ScratchDir rt;
  auto out = rt.path() / "report";
  RunOptions o;
  o.act_on_stderr = "[2/";  // two runs done: the third is in flight or about to start
  o.act = [](pid_t pid) { kill(pid, SIGINT); };
  auto r = faultbox_in(rt, "explore", {"--out", out.string(), "--sites", "nth", "--", "mkdir", "/tmp/x"}, o);
  INFO(r.out << r.err);
  CHECK(r.status.shell_code() == 128 + SIGINT);
  auto j = read_json(out / "explore.json");
  CHECK(j["complete"] == false);
  CHECK(j["stopped_because"] == "interrupted");
  CHECK(j["counts"]["not-run"] > 0);
  CHECK(j["counts"]["infra-error"] == 0);  // the run cut by the signal is not-run, not a machinery failure
  require_no_leftovers(rt);
}

TEST_CASE("explore --sites block: each request the step sends to its disk fails once, in a VM with fresh disks each") {
  ScratchDir rt;
  auto out = rt.path() / "report";
  auto emit = out / "scenarios";
  auto scenario = source("tests/data/scenarios/vm/explore-block-raw-disk.toml");
  auto t0 = std::chrono::steady_clock::now();
  auto r = faultbox_in(rt, "explore", {"--out", out.string(), "--emit-scenarios", emit.string(), "--scenario", scenario});
  INFO(r.out << r.err);
  REQUIRE(r.status.code == 0);
  auto j = read_json(out / "explore.json");
  CHECK(j["complete"] == true);
  // Discovery: the partial page's read, its write-back at sync, the direct write (at least the
  // two writes, whatever else the step's I/O takes).
  REQUIRE(j["discovery"]["disks"].size() == 1);
  auto& disk = j["discovery"]["disks"][0];
  CHECK(disk["disk"] == "data");
  CHECK(disk["writes"] >= 2);
  int requests = disk["requests"];
  CHECK(requests <= 8);  // a handful: the test stays short
  REQUIRE(j["runs"].size() == static_cast<std::size_t>(requests));
  int fired = 0, handled = 0, silent = 0;
  for (auto& run : j["runs"]) {
    INFO(run.dump());
    CHECK(run["site"]["kind"] == "block");
    CHECK(run["site"]["disk"] == "data");
    std::string o = run["outcome"];
    CHECK((o == "handled" || o == "silent" || o == "pass"));
    if (run["fired"] == 0) CHECK(o == "pass");
    if (run["fired"] == 1) ++fired;
    if (o == "handled") ++handled;
    if (o == "silent") {
      ++silent;
      REQUIRE(run["scenario"].is_string());
    }
  }
  CHECK(fired >= 2);
  // The direct write's EIO reaches dd: handled. The write-back sync(1) starts fails unnoticed.
  CHECK(handled >= 1);
  CHECK(silent >= 1);
  CHECK_THAT(r.out, Catch::Contains("disk data: "));
  auto page = read_file(out / "report.html");
  REQUIRE(page.ok());
  CHECK_THAT(*page, Catch::Contains("data-kind=\"block\""));
  WARN("explore --sites block: " << requests << " sites in "
                                 << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s");

  // A silent row's emitted scenario is the same fault at the same request: `run` sees it fire.
  std::string emitted;
  for (auto& run : j["runs"])
    if (run["outcome"] == "silent" && emitted.empty()) emitted = (out / run["scenario"].get<std::string>()).string();
  REQUIRE(!emitted.empty());
  auto again = faultbox_in(rt, "run", {emitted, "--json", (rt.path() / "again.json").string()});
  INFO(again.out << again.err);
  CHECK(again.status.code == 0);  // the step passes (nobody noticed), and the fault fired as it must
  auto rerun = read_json(rt.path() / "again.json");
  bool found = false;
  for (auto& f : rerun["faults"])
    if (f["name"] == "explore") {
      found = true;
      CHECK(f["fired"] == 1);
    }
  CHECK(found);
  require_no_leftovers(rt);
}
