#include "tests/support/support.h"

#include <catch2/catch.hpp>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <unistd.h>

extern char** environ;

namespace fb::test {

Run run(const std::vector<std::string>& argv, const RunOptions& opts) {
  int o[2], e[2];
  REQUIRE(pipe2(o, O_CLOEXEC) == 0);
  REQUIRE(pipe2(e, O_CLOEXEC) == 0);
  std::map<std::string, std::string> env;
  for (char** p = environ; *p; ++p) {
    std::string kv = *p;
    auto eq = kv.find('=');
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (auto& k : opts.unset_env) env.erase(k);
  for (auto& [k, v] : opts.env) env[k] = v;
  std::vector<std::string> envv;
  for (auto& [k, v] : env) envv.push_back(k + "=" + v);
  SpawnOptions so;
  so.stdout_fd = o[1];
  so.stderr_fd = e[1];
  so.env = envv;
  auto t0 = std::chrono::steady_clock::now();
  auto child = ChildProcess::spawn(argv, so);
  close(o[1]);
  close(e[1]);
  REQUIRE(child.ok());
  Run r;
  r.pid = child->pid();
  bool acted = !opts.act;
  pollfd pfds[2] = {{o[0], POLLIN, 0}, {e[0], POLLIN, 0}};
  int open_fds = 2;
  std::optional<std::chrono::steady_clock::time_point> stdout_closed_at;
  auto deadline = t0 + opts.timeout;
  while (open_fds > 0) {
    auto now = std::chrono::steady_clock::now();
    if (now > deadline) {
      child->kill();
      FAIL("command timed out: " << argv[0] << "\nstderr so far:\n" << r.err);
    }
    if (!acted && opts.act_after && now - t0 >= *opts.act_after) {
      opts.act(r.pid);
      acted = true;
    }
    if (!acted && !opts.act_on_stderr.empty() && r.err.find(opts.act_on_stderr) != std::string::npos) {
      opts.act(r.pid);
      acted = true;
    }
    int n = poll(pfds, 2, 20);
    if (n <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (pfds[i].fd < 0 || !(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[65536];
      ssize_t k = read(pfds[i].fd, buf, sizeof buf);
      if (k <= 0) {
        close(pfds[i].fd);
        pfds[i].fd = -1;
        --open_fds;
        continue;
      }
      std::string d(buf, static_cast<std::size_t>(k));
      (i == 0 ? r.out : r.err) += d;
      r.chunks.push_back({i + 1, std::chrono::steady_clock::now(), d});
      if (i == 0 && opts.close_stdout_after && r.out.size() >= opts.close_stdout_after) {
        close(pfds[0].fd);
        pfds[0].fd = -1;
        --open_fds;
        stdout_closed_at = std::chrono::steady_clock::now();
      }
    }
  }
  r.status = child->wait();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (stdout_closed_at)
    r.seconds_after_stdout_closed = std::chrono::duration<double>(std::chrono::steady_clock::now() - *stdout_closed_at).count();
  return r;
}

std::string env_or_fail(const char* name) {
  const char* v = getenv(name);
  if (!v || !*v) FAIL("environment variable " << name << " is not set (run the tests through ctest)");
  return v;
}

std::string faultbox_binary() { return env_or_fail("FAULTBOX_BIN"); }
std::string agent_binary() { return env_or_fail("FAULTBOX_AGENT_BIN"); }

std::vector<pid_t> processes_mentioning(const std::string& needle) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    pid_t pid = atoi(e->d_name);
    if (pid <= 0 || pid == getpid()) continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/cmdline");
    std::stringstream ss;
    ss << f.rdbuf();
    std::string cmd = ss.str();
    // Zombies have an empty cmdline and hold nothing.
    if (!cmd.empty() && cmd.find(needle) != std::string::npos) out.push_back(pid);
  }
  closedir(d);
  return out;
}

ScratchDir::ScratchDir() {
  std::string t = "/tmp/faultbox-test-XXXXXX";
  REQUIRE(mkdtemp(t.data()) != nullptr);
  path_ = t;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace fb::test

#include "orchestrator/core/cache.h"

namespace fb::test {
std::string sha256_of(const std::string& data) { return sha256_hex(data); }
std::string fake_bzimage(std::uint32_t syssize) {
  std::string bz(1024 + syssize * 16ull, '\x5a');
  bz[0x1f1] = 1;
  memcpy(bz.data() + 0x1f4, &syssize, sizeof syssize);
  bz.replace(0x202, 4, "HdrS");
  return bz;
}

Scenario parsed_scenario(const std::string& text, const std::string& file_name) {
  auto sc = parse_scenario_text(text, file_name);
  INFO((sc.ok() ? std::string() : sc.error().message));
  REQUIRE(sc.ok());
  return *sc;
}

}  // namespace fb::test
