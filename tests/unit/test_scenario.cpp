#include "common/files.h"
#include "common/temp_dir.h"
#include "orchestrator/core/scenario.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <regex>
#include <map>
#include <set>
#include <sstream>

using namespace fb;
namespace fs = std::filesystem;

static fs::path source_dir() { return FAULTBOX_SOURCE_DIR; }

TEST_CASE("every malformed scenario in the corpus is refused with file:line:col and its message") {
  int cases = 0;
  for (auto& e : fs::directory_iterator(source_dir() / "tests/data/scenarios/bad")) {
    if (e.path().extension() != ".toml") continue;
    ++cases;
    auto text = read_file(e.path());
    REQUIRE(text.ok());
    std::smatch m;
    std::regex error_line("# error: ([^\n]*)");
    REQUIRE(std::regex_search(*text, m, error_line));
    std::string want = m[1];
    auto sc = load_scenario(e.path());
    INFO(e.path().filename().string() << (sc.ok() ? std::string(" parsed OK") : ": " + sc.error().message));
    REQUIRE_FALSE(sc.ok());
    CHECK(sc.error().kind == ErrorKind::Usage);
    std::regex located("^" + std::regex_replace(e.path().string(), std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                       R"(:(\d+):(\d+): )");
    REQUIRE(std::regex_search(sc.error().message, m, located));
    CHECK(std::stoi(m[1]) >= 1);
    CHECK(std::stoi(m[2]) >= 1);
    CHECK_THAT(sc.error().message, Catch::Contains(want));
    std::smatch at;
    if (std::regex_search(*text, at, std::regex("# at: (\\d+):(\\d+)"))) {
      CHECK(m[1].str() == at[1].str());
      CHECK(m[2].str() == at[2].str());
    }
  }
  CHECK(cases >= 20);
}

TEST_CASE("the examples validate") {
  int n = 0;
  for (auto& e : fs::directory_iterator(source_dir() / "examples")) {
    if (e.path().extension() != ".toml") continue;
    ++n;
    auto sc = load_scenario(e.path());
    INFO(e.path().string() << ": " << (sc.ok() ? "" : sc.error().message));
    CHECK(sc.ok());
  }
  CHECK(n >= 1);
}

TEST_CASE("a valid scenario becomes the model it describes") {
  auto sc = parse_scenario_text(R"(
name = "n"
description = "d"
[vm]
memory = 512
cpus = 2
timeout = "90s"
include = ["/usr/sbin/dmsetup"]
[[disk]]
name = "data"
size = "64M"
[[fault]]
type = "fail_make_request"
target = "disk:data/1"
probability = 50
steps = ["io"]
[[fault]]
type = "fail_function"
function = "should_failslab"
retval = -12
[[step]]
name = "io"
run = ["dd", "if=/dev/vda1", "of=/dev/null"]
expect_exit = 1
timeout = "500ms"
[expect]
injected_min = 3
dmesg_contains = ["Buffer I/O error"]
)",
                                "inline.toml");
  REQUIRE(sc.ok());
  CHECK(sc->vm.memory_mb == 512);
  CHECK(sc->vm.cpus == 2);
  CHECK(sc->vm.timeout == std::chrono::seconds(90));
  CHECK(sc->vm.include == std::vector<std::string>{"/usr/sbin/dmsetup"});
  REQUIRE(sc->disks.size() == 1);
  CHECK(sc->disks[0].size_bytes == 64ull << 20);
  REQUIRE(sc->faults.size() == 2);
  CHECK(sc->faults[0].type == "fail_make_request");
  CHECK(sc->faults[0].name == "fail_make_request");
  CHECK(sc->faults[0].steps == std::vector<std::string>{"io"});
  CHECK(sc->faults[0].params["probability"] == 50);
  CHECK(sc->faults[0].params["target"] == "disk:data/1");
  CHECK_FALSE(sc->faults[0].params.contains("type"));
  CHECK(sc->faults[1].params["retval"] == -12);
  REQUIRE(sc->steps.size() == 1);
  CHECK(sc->steps[0].argv == std::vector<std::string>{"dd", "if=/dev/vda1", "of=/dev/null"});
  CHECK(sc->steps[0].expect_exit == 1);
  CHECK(sc->steps[0].timeout == std::chrono::milliseconds(500));
  CHECK(sc->steps[0].where.line == 21);  // the [[step]] header
  CHECK(sc->expect.injected_min == 3);
}

TEST_CASE("a run string becomes sh -c") {
  auto sc = parse_scenario_text("name = \"n\"\n[[step]]\nname = \"s\"\nrun = \"echo a | wc -c\"\n", "x.toml");
  REQUIRE(sc.ok());
  CHECK(sc->steps[0].argv == std::vector<std::string>{"sh", "-c", "echo a | wc -c"});
}

TEST_CASE("sizes and durations parse, nonsense does not") {
  CHECK(parse_size("64M") == 64ull << 20);
  CHECK(parse_size("1G") == 1ull << 30);
  CHECK(parse_size("512K") == 512ull << 10);
  CHECK(parse_size("4096") == 4096u);
  CHECK_FALSE(parse_size("M"));
  CHECK_FALSE(parse_size("12X"));
  CHECK_FALSE(parse_size("99999999999999999999G"));
  CHECK(parse_duration("500ms") == std::chrono::milliseconds(500));
  CHECK(parse_duration("2m") == std::chrono::minutes(2));
  CHECK_FALSE(parse_duration("2"));
  CHECK_FALSE(parse_duration("fast"));
}

TEST_CASE("docs/scenarios.md documents exactly the keys the parser knows") {
  auto doc = read_file(source_dir() / "docs/scenarios.md");
  REQUIRE(doc.ok());
  std::map<std::string, std::set<std::string>> documented;
  std::string section;
  std::regex marker("<!-- section: ([a-z_.]+) -->");
  std::regex row("^\\| `([a-z_]+)` \\|");
  std::istringstream in(*doc);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, marker)) section = m[1];
    else if (!section.empty() && std::regex_search(line, m, row)) documented[section].insert(m[1]);
  }
  std::map<std::string, std::set<std::string>> known;
  for (auto& s : scenario_schema())
    for (auto& k : s.keys) known[s.name].insert(k.key);
  CHECK(documented == known);
}

TEST_CASE("the parser survives 3000 random mutations of a valid scenario") {
  auto base = read_file(source_dir() / "examples/failslab-one-task.toml");
  REQUIRE(base.ok());
  std::mt19937 rng(12345);
  int refused = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string t = *base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      std::size_t pos = rng() % t.size();
      switch (rng() % 3) {
        case 0: t[pos] = static_cast<char>(rng() % 256); break;
        case 1: t.erase(pos, 1 + rng() % 8); break;
        default: t.insert(pos, std::string(1 + rng() % 3, "=[]\"{},\n#x0"[rng() % 12])); break;
      }
      if (t.empty()) t = "x";
    }
    auto sc = parse_scenario_text(t, "m.toml");
    if (!sc.ok()) {
      ++refused;
      CHECK_THAT(sc.error().message, Catch::StartsWith("m.toml:"));
    }
  }
  CHECK(refused > 1000);  // most mutations break something, and each says where
}

TEST_CASE("a [[disk]] with partitions, filesystems, files and an [expect.disk] becomes its model") {
  auto sc = parse_scenario_text(R"(
name = "disks"
[[disk]]
name = "data"
size = "64M"
partition_table = "gpt"
partitions = ["24M", "50%"]
fs = ["ext4", "swap"]
serial = "fb-data"
files = { "1:/etc/note" = "examples/data/partition-note.txt" }
file_contents = { "1:/a.txt" = "hello\n" }
[[disk]]
name = "plain"
size = "8M"
[[step]]
name = "s"
run = "true"
[expect.disk.data]
fsck_clean = true
fsck_clean_partitions = [1]
files = { "1:/a.txt" = "unchanged", "1:/gone" = "absent" }
)", (source_dir() / "x.toml").string());
  INFO((sc.ok() ? "" : sc.error().message));
  REQUIRE(sc.ok());
  REQUIRE(sc->disks.size() == 2);
  auto& d = sc->disks[0];
  CHECK(d.partition_table == "gpt");
  REQUIRE(d.partitions.size() == 2);
  CHECK(d.partitions[0].size_bytes == 24u << 20);
  CHECK(d.partitions[1].percent == 50);
  CHECK(d.partitions[1].fs == "swap");
  CHECK(d.serial == "fb-data");
  REQUIRE(d.files.size() == 2);
  CHECK(d.files[0].host_path == source_dir() / "examples/data/partition-note.txt");
  CHECK(d.files[0].partition == 1);
  CHECK(d.files[1].content == std::optional<std::string>("hello\n"));
  CHECK(d.populated());
  CHECK(sc->disks[1].serial == "plain");
  CHECK_FALSE(sc->disks[1].populated());
  REQUIRE(sc->expect.disks.size() == 1);
  CHECK(sc->expect.disks[0].fsck_clean == std::optional<bool>(true));
  CHECK(sc->expect.disks[0].fsck_clean_partitions == std::vector<unsigned>{1});
  CHECK(sc->expect.disks[0].files.size() == 2);
  CHECK(parse_disk_location("2:/a/b") == std::make_pair(2u, std::string("/a/b")));
  CHECK_FALSE(parse_disk_location("0:/a"));
  CHECK_FALSE(parse_disk_location("1:a"));
  CHECK_FALSE(parse_disk_location("/a/../b"));
}

namespace {

TempDir scratch() {
  auto d = TempDir::create(fs::temp_directory_path(), "fb-scenario-input-", false);
  REQUIRE(d.ok());
  return std::move(*d);
}

// load_scenario in a child with a 1 GiB address-space limit and a 20 s alarm, so a reader
// without a cap dies there (bad_alloc, SIGABRT) instead of eating the host. Returns the child's
// wait status and the error message it wrote back.
std::pair<int, std::string> load_in_bounded_child(const fs::path& path) {
  int p[2];
  REQUIRE(pipe(p) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(p[0]);
    struct rlimit as = {1ul << 30, 1ul << 30};
    setrlimit(RLIMIT_AS, &as);
    alarm(20);
    try {  // the child must never return into the test runner
      auto sc = load_scenario(path);
      std::string msg = sc.ok() ? "parsed" : sc.error().message;
      if (write(p[1], msg.data(), msg.size()) < 0) _exit(3);
      _exit(!sc.ok() && sc.error().kind == ErrorKind::Usage ? 0 : 1);
    } catch (const std::exception& e) {
      std::string msg = std::string("exception: ") + e.what();
      if (write(p[1], msg.data(), msg.size()) < 0) _exit(3);
      _exit(2);
    }
  }
  close(p[1]);
  std::string msg;
  char buf[4096];
  for (ssize_t n; (n = read(p[0], buf, sizeof buf)) > 0;) msg.append(buf, static_cast<std::size_t>(n));
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {status, msg};
}

}  // namespace

TEST_CASE("a scenario path that is a symlink to /dev/zero is refused at once, not read until memory runs out") {
  auto dir = scratch();
  fs::path link = dir.path() / "zero.toml";
  fs::create_symlink("/dev/zero", link);
  auto t0 = std::chrono::steady_clock::now();
  auto [status, msg] = load_in_bounded_child(link);
  INFO("child status " << status << ": " << msg);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(msg == link.string() + ": is a character device; a scenario file must be a regular file");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}

TEST_CASE("a scenario path that is a FIFO is refused without waiting for a writer") {
  auto dir = scratch();
  fs::path fifo = dir.path() / "fifo.toml";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  auto loaded = std::async(std::launch::async, [&] { return load_scenario(fifo); });
  if (loaded.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    // Unblock the reader (a writer that opens and closes: EOF) so the test ends either way.
    int w = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (w >= 0) close(w);
    loaded.wait();
    FAIL("load_scenario blocked on the FIFO for 5 s");
  }
  auto sc = loaded.get();
  REQUIRE_FALSE(sc.ok());
  CHECK(sc.error().kind == ErrorKind::Usage);
  CHECK(sc.error().message == fifo.string() + ": is a FIFO; a scenario file must be a regular file");
}

TEST_CASE("a scenario path that is a directory is refused, naming it") {
  auto dir = scratch();
  auto sc = load_scenario(dir.path());
  REQUIRE_FALSE(sc.ok());
  CHECK(sc.error().kind == ErrorKind::Usage);
  CHECK(sc.error().message == dir.path().string() + ": is a directory; a scenario file must be a regular file");
}

TEST_CASE("a scenario file over the 1 MiB cap is refused with the cap in the message, one at the cap is read") {
  auto dir = scratch();
  std::string valid = "name = \"x\"\n[[step]]\nname = \"s\"\nrun = \"true\"\n";
  fs::path big = dir.path() / "big.toml";
  std::ofstream(big) << valid << "# " << std::string(2 << 20, 'x') << "\n";
  auto sc = load_scenario(big);
  REQUIRE_FALSE(sc.ok());
  CHECK(sc.error().kind == ErrorKind::Usage);
  CHECK(sc.error().message ==
        big.string() + ": " + std::to_string(fs::file_size(big)) + " bytes is over the 1 MiB limit for a scenario file");
  CHECK(sc.error().message.find('\n') == std::string::npos);
  fs::path at_cap = dir.path() / "at-cap.toml";
  std::ofstream(at_cap) << valid << "# " << std::string(kMaxScenarioBytes - valid.size() - 3, 'x') << "\n";
  REQUIRE(fs::file_size(at_cap) == kMaxScenarioBytes);
  auto ok = load_scenario(at_cap);
  INFO((ok.ok() ? "" : ok.error().message));
  CHECK(ok.ok());
}
