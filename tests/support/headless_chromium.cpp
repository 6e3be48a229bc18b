#include "tests/support/headless_chromium.h"

#include "common/files.h"
#include "tests/support/support.h"

#include <catch2/catch.hpp>
#include <zlib.h>

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <poll.h>
#include <set>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace fb::test {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

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

}  // namespace

std::string HeadlessChromium::binary() {
  const char* env = std::getenv("FAULTBOX_CHROMIUM");
  std::string b = env && *env ? std::string(env) : find_in_path("chromium");
  if (b.empty()) unavailable_("chromium not found in PATH (scripts/setup installs Debian's chromium)");
  return b;
}

// One headless Chromium: its own process group and profile, killed as a group at the deadline.
BrowserRun HeadlessChromium::run(const std::vector<std::string>& args) {
  std::string bin = binary();
  ScratchDir profile;
  std::vector<std::string> argv = {bin,
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
  int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(kDeadline).count());
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
// then it cannot run here at all, and unavailable() says so with its error.
void HeadlessChromium::require_works(const BrowserRun& failed) {
  BrowserRun probe = run({"--dump-dom", "data:text/html,<p id=probe>ok</p>"});
  if (probe.status.code != 0 || probe.out.find("id=\"probe\"") == std::string::npos) {
    std::string tail = probe.err.size() > 2000 ? probe.err.substr(probe.err.size() - 2000) : probe.err;
    unavailable_("chromium cannot start here (" + probe.status.describe() + "):\n" + tail);
  }
  FAIL("chromium loads a trivial page but not the report: " << failed.status.describe() << "\n" << failed.err);
}

std::string HeadlessChromium::dump_dom(const fs::path& page, const std::string& fragment) {
  BrowserRun r = run({"--dump-dom", "file://" + page.string() + fragment});
  if (r.status.code != 0 || r.out.find("</html>") == std::string::npos) require_works(r);
  return r.out;
}

BrowserRun HeadlessChromium::screenshot(const fs::path& page, const fs::path& png, int width, int height) {
  std::error_code ec;
  fs::remove(png, ec);
  BrowserRun r = run({"--screenshot=" + png.string(), "--window-size=" + std::to_string(width) + "," + std::to_string(height),
                      "file://" + page.string()});
  if (r.status.code != 0 || !fs::exists(png)) require_works(r);
  return r;
}

static unsigned be32(const std::string& s, std::size_t at) {
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

void check_page_shows_report(const HtmlElement& doc, const json& report, const fs::path& dir) {
  std::set<std::string> sites_json, sites_dom;
  for (const auto& run : report["runs"]) sites_json.insert(site_key(run));
  for (const HtmlElement* tr : doc.all("tr", "site")) sites_dom.insert(tr->attr("data-site"));
  CHECK(sites_dom == sites_json);
  CHECK(doc.all("tr", "site").size() == sites_json.size());
  for (const auto& run : report["runs"]) {
    INFO("run " << run["id"] << " at " << site_key(run));
    const HtmlElement* td = cell_of_run(doc, run);
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
    const HtmlElement* row = doc.by_id("run-" + std::to_string(run["id"].get<int>()));
    REQUIRE(row);
    if (run["title"].is_string()) CHECK(row->text.find(run["title"].get<std::string>()) != std::string::npos);
  }
  for (const HtmlElement* b : doc.all("button", "filter"))
    CHECK(b->attr("data-count") == std::to_string(report["counts"][b->attr("data-outcome")].get<int>()));
}

}  // namespace fb::test
