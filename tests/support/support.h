#pragma once
// Test helpers: run a command the way a user's shell would, with stdout and stderr kept apart
// and each chunk timestamped on arrival, so tests can check liveness as well as content.
#include "common/process.h"
#include "orchestrator/core/scenario.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fb::test {

struct Chunk {
  int fd;  // 1 or 2
  std::chrono::steady_clock::time_point at;
  std::string data;
};

struct Run {
  ExitStatus status;
  std::string out, err;
  std::vector<Chunk> chunks;
  double seconds = 0;
  pid_t pid = -1;
  double seconds_after_stdout_closed = -1;  // with close_stdout_after: from the close to the exit
};

struct RunOptions {
  std::map<std::string, std::string> env;  // added to (or replacing in) our environment
  std::vector<std::string> unset_env;
  std::chrono::seconds timeout{600};
  // Called once with the child's pid while it runs, after `after` has passed (signal tests).
  std::optional<std::chrono::milliseconds> act_after;
  std::function<void(pid_t)> act;
  // Act when this text first shows up on stderr instead of after a fixed delay.
  std::string act_on_stderr;
  // Close our end of its stdout once this many bytes came (a reader like `head -c` going away).
  std::size_t close_stdout_after = 0;
};

Run run(const std::vector<std::string>& argv, const RunOptions& opts = {});

// Paths handed in by CMake through the environment of the test process.
std::string faultbox_binary();
std::string agent_binary();
std::string env_or_fail(const char* name);

// Processes whose command line mentions needle (skipping ourselves).
std::vector<pid_t> processes_mentioning(const std::string& needle);

// A fresh private directory under /tmp, removed at destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string sha256_of(const std::string& data);

// Bytes laid out like a bzImage as long as its setup header says (1 setup sector, then syssize
// 16-byte paragraphs), for kernel-cache tests that must not touch the real kernel.
std::string fake_bzimage(std::uint32_t syssize = 4000);

// A scenario parsed from text a test wrote; the test fails with the parser's message if it does not parse.
Scenario parsed_scenario(const std::string& text, const std::string& file_name);

}  // namespace fb::test
