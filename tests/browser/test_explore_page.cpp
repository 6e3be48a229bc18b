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
#include "common/process.h"
#include "tests/support/explore_sample.h"
#include "tests/support/html_dom.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <poll.h>
#include <set>
#include <thread>
#include <unistd.h>

using namespace fb;
using namespace fb::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr auto kBrowserDeadline = std::chrono::seconds(90);  // a cold start on a loaded 2-core host takes a few seconds
constexpr int kWidth = 1400, kHeight = 2000;

// Where a test case leaves the page, its evidence, the dumped DOM and the screenshot for a
// person to look at; emptied when the case starts (CTest runs each case as its own process).
fs::path case_dir(const std::string& name) {
  fs::path d = fs::path(FAULTBOX_BROWSER_OUTPUT_DIR) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::vector<pid_t> processes_in_group(pid_t pgid) {
  std::vector<pid_t> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string state;
    pid_t ppid = 0, group = 0;
    rest >> state >> ppid >> group;
    if (group == pgid && state != "Z") out.push_back(std::stoi(name));
  }
  return out;
}

struct BrowserRun {
  ExitStatus status;
  std::string out, err;
  double seconds = 0;
};

// One headless Chromium: its own process group and profile, killed as a group at the deadline.
BrowserRun chromium(const std::vector<std::string>& args) {
  static const std::string binary = [] {
    const char* env = std::getenv("FAULTBOX_CHROMIUM");
    return env && *env ? std::string(env) : find_in_path("chromium");
  }();
  if (binary.empty()) {
    std::cerr << "SKIP: chromium not found in PATH (scripts/setup installs Debian's chromium)\n";
    std::exit(77);
  }
  ScratchDir profile;
  std::vector<std::string> argv = {binary,
                                   "--headless",
                                   "--no-sandbox",  // root cannot use Chromium's sandbox
                                   "--disable-gpu",
                                   "--no-first-run",
                                   "--no-default-browser-check",
                                   "--disable-extensions",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-sync",
                                   "--disable-dev-shm-usage",
                                   "--hide-scrollbars",
                                   "--user-data-dir=" + (profile.path() / "profile").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    if (kv.rfind("HOME=", 0) == 0 || kv.rfind("XDG_CONFIG_HOME=", 0) == 0 || kv.rfind("XDG_CACHE_HOME=", 0) == 0) continue;
    env.push_back(kv);
  }
  env.push_back("HOME=" + profile.path().string());
  env.push_back("XDG_CONFIG_HOME=" + (profile.path() / "config").string());
  env.push_back("XDG_CACHE_HOME=" + (profile.path() / "cache").string());
  auto out_path = profile.path() / "stdout", err_path = profile.path() / "stderr";
  int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(out_fd >= 0);
  REQUIRE(err_fd >= 0);
  SpawnOptions so;
  so.stdout_fd = out_fd;
  so.stderr_fd = err_fd;
  so.new_process_group = true;
  so.env = env;
  auto t0 = std::chrono::steady_clock::now();
  auto child = ChildProcess::spawn(argv, so);
  close(out_fd);
  close(err_fd);
  REQUIRE(child.ok());
  pid_t group = child->pid();
  pollfd p{child->pidfd(), POLLIN, 0};
  int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(kBrowserDeadline).count());
  bool exited = poll(&p, 1, ms) == 1;
  BrowserRun r;
  r.status = exited ? child->wait() : child->kill();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.out = read_file(out_path).ok() ? *read_file(out_path) : "";
  r.err = read_file(err_path).ok() ? *read_file(err_path) : "";
  // Its helpers (zygote, renderer, GPU and utility processes) are in the group: none may outlive it.
  auto left = processes_in_group(group);
  for (int i = 0; i < 40 && !left.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    left = processes_in_group(group);
  }
  if (!left.empty()) ::kill(-group, SIGKILL);
  INFO("chromium " << args.back() << ": " << r.status.describe() << " in " << r.seconds << " s");
  CHECK(left.empty());
  REQUIRE(exited);
  std::cerr << "chromium " << args.front() << ": " << r.status.describe() << " in " << r.seconds << " s\n";
  return r;
}

// Chromium failing on the report is a failure, unless it cannot load a trivial page either:
// then it cannot run here at all, and the test is skipped naming its error.
void require_chromium_works(const BrowserRun& failed) {
  BrowserRun probe = chromium({"--dump-dom", "data:text/html,<p id=probe>ok</p>"});
  if (probe.status.code != 0 || probe.out.find("id=\"probe\"") == std::string::npos) {
    std::string tail = probe.err.size() > 2000 ? probe.err.substr(probe.err.size() - 2000) : probe.err;
    std::cerr << "SKIP: chromium cannot start here (" << probe.status.describe() << "):\n" << tail << "\n";
    std::exit(77);
  }
  FAIL("chromium loads a trivial page but not the report: " << failed.status.describe() << "\n" << failed.err);
}

std::string dump_dom(const fs::path& page, const std::string& fragment = {}) {
  BrowserRun r = chromium({"--dump-dom", "file://" + page.string() + fragment});
  if (r.status.code != 0 || r.out.find("</html>") == std::string::npos) require_chromium_works(r);
  return r.out;
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

fs::path render(const fs::path& explore_json) {
  Run r = run({faultbox_binary(), "explore-report", explore_json.string()});
  INFO(r.err);
  REQUIRE(r.status.code == 0);
  CHECK(r.err.find("explore report: " + (explore_json.parent_path() / "report.html").string()) != std::string::npos);
  return explore_json.parent_path() / "report.html";
}

std::string site_key(const json& run) {
  const json& s = run["site"];
  std::string kind = s["kind"];
  if (kind == "nth") return "nth:" + std::to_string(s["nth"].get<int>());
  if (kind == "function") return "function:" + s["function"].get<std::string>();
  return "block:" + s["fault"].get<std::string>();
}

const HtmlElement* cell_of_run(const HtmlElement& doc, const json& run) {
  std::string id = std::to_string(run["id"].get<int>());
  for (const HtmlElement* tr : doc.all("tr", "site")) {
    if (tr->attr("data-site") != site_key(run)) continue;
    for (const HtmlElement* td : tr->all("td", "outcome"))
      if (td->attr("data-run") == id) return td;
  }
  return nullptr;
}

// The pixels of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes).
struct Image {
  unsigned width = 0, height = 0, channels = 0;
  std::vector<unsigned char> pixels;
};

unsigned be32(const std::string& s, std::size_t at) {
  return (unsigned char)s[at] << 24 | (unsigned char)s[at + 1] << 16 | (unsigned char)s[at + 2] << 8 | (unsigned char)s[at + 3];
}

Image decode_png(const std::string& png) {
  Image img;
  REQUIRE(png.size() > 33);
  REQUIRE(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
  std::string idat;
  unsigned bit_depth = 0, colour = 0, interlace = 0;
  for (std::size_t at = 8; at + 12 <= png.size();) {
    unsigned len = be32(png, at);
    std::string type = png.substr(at + 4, 4);
    REQUIRE(at + 12 + len <= png.size());
    if (type == "IHDR") {
      img.width = be32(png, at + 8);
      img.height = be32(png, at + 12);
      bit_depth = (unsigned char)png[at + 16];
      colour = (unsigned char)png[at + 17];
      interlace = (unsigned char)png[at + 20];
    } else if (type == "IDAT") {
      idat += png.substr(at + 8, len);
    }
    at += 12 + len;
  }
  REQUIRE(bit_depth == 8);
  REQUIRE((colour == 2 || colour == 6));
  REQUIRE(interlace == 0);
  img.channels = colour == 6 ? 4 : 3;
  std::size_t stride = std::size_t(img.width) * img.channels;
  std::vector<unsigned char> raw((stride + 1) * img.height);
  uLongf raw_len = raw.size();
  REQUIRE(uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) == Z_OK);
  REQUIRE(raw_len == raw.size());
  img.pixels.resize(stride * img.height);
  for (unsigned y = 0; y < img.height; ++y) {
    unsigned filter = raw[y * (stride + 1)];
    const unsigned char* in = &raw[y * (stride + 1) + 1];
    unsigned char* row = &img.pixels[y * stride];
    const unsigned char* up = y ? &img.pixels[(y - 1) * stride] : nullptr;
    for (std::size_t x = 0; x < stride; ++x) {
      int a = x >= img.channels ? row[x - img.channels] : 0, b = up ? up[x] : 0,
          c = (up && x >= img.channels) ? up[x - img.channels] : 0;
      int v = in[x];
      switch (filter) {
        case 0: break;
        case 1: v += a; break;
        case 2: v += b; break;
        case 3: v += (a + b) / 2; break;
        case 4: {
          int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          v += (pa <= pb && pa <= pc) ? a : pb <= pc ? b : c;
          break;
        }
        default: FAIL("PNG filter " << filter);
      }
      row[x] = static_cast<unsigned char>(v);
    }
  }
  return img;
}

// Pixels of exactly this colour, and the rows they span.
struct ColourArea {
  std::size_t count = 0;
  unsigned top = ~0u, bottom = 0;
};
ColourArea area_of(const Image& img, unsigned rgb) {
  ColourArea a;
  for (unsigned y = 0; y < img.height; ++y)
    for (unsigned x = 0; x < img.width; ++x) {
      const unsigned char* p = &img.pixels[(std::size_t(y) * img.width + x) * img.channels];
      if ((unsigned(p[0]) << 16 | unsigned(p[1]) << 8 | p[2]) != rgb) continue;
      ++a.count;
      a.top = std::min(a.top, y);
      a.bottom = std::max(a.bottom, y);
    }
  return a;
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

  // One row per distinct site of the JSON, and each run's cell with its outcome.
  std::set<std::string> sites_json, sites_dom;
  for (const auto& run : report["runs"]) sites_json.insert(site_key(run));
  for (const HtmlElement* tr : doc->all("tr", "site")) sites_dom.insert(tr->attr("data-site"));
  CHECK(sites_dom == sites_json);
  CHECK(doc->all("tr", "site").size() == sites_json.size());
  for (const auto& run : report["runs"]) {
    INFO("run " << run["id"] << " at " << site_key(run));
    const HtmlElement* td = cell_of_run(*doc, run);
    REQUIRE(td);
    std::string outcome = run["outcome"];
    CHECK(td->attr("data-outcome") == outcome);
    CHECK(td->has_class(outcome));
    // Crash, hang, warning and data-loss cells link each evidence file, and the links resolve.
    if (outcome == "kernel-crash" || outcome == "hang" || outcome == "warning" || outcome == "data-loss") {
      std::set<std::string> expected, linked;
      for (const auto& [kind, path] : run["evidence"].items()) expected.insert(path.get<std::string>());
      for (const HtmlElement* a : td->all("a", "evidence")) {
        linked.insert(a->attr("href"));
        CHECK(fs::is_regular_file(dir / a->attr("href")));
      }
      CHECK(linked == expected);
    }
    // The run's detail row, where the cell's first link points.
    const HtmlElement* row = doc->by_id("run-" + std::to_string(run["id"].get<int>()));
    REQUIRE(row);
    if (run["title"].is_string()) CHECK(row->text.find(run["title"].get<std::string>()) != std::string::npos);
  }
  // The hostile detail is there as text.
  CHECK(doc->by_id("run-6")->text.find("<script>document.body.setAttribute('data-pwned','1')</script>") != std::string::npos);

  // Crash rows first in the nth matrix.
  auto nth_rows = doc->all("table", "matrix").front()->all("tr", "site");
  REQUIRE(nth_rows.size() >= 2);
  CHECK(nth_rows[0]->first("td", "outcome")->attr("data-outcome") == "kernel-crash");
  CHECK(nth_rows[1]->first("td", "outcome")->attr("data-outcome") == "kernel-crash");

  // Counts and groups as the JSON says.
  for (const HtmlElement* b : doc->all("button", "filter"))
    CHECK(b->attr("data-count") == std::to_string(report["counts"][b->attr("data-outcome")].get<int>()));
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
  BrowserRun r = chromium({"--screenshot=" + png.string(), "--window-size=" + std::to_string(kWidth) + "," + std::to_string(kHeight),
                           "file://" + page.string()});
  if (r.status.code != 0 || !fs::exists(png)) require_chromium_works(r);
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
