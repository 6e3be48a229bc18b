// Round trips and captured output of one booted VM, and, with --qga, the same through
// qemu-guest-agent running in that same VM (its binary and libraries put into the image with
// --include, its port added to the VM), the two measured interleaved (A, B, A, B...):
//   ping round trip         faultbox `ping`            vs qemu-ga `guest-ping`
//   exec `true`             faultbox `exec` to exit    vs `guest-exec` + `guest-exec-status` polling
//   N MiB of stdout         faultbox `exec` (streamed) vs `guest-exec` capture-output (base64)
// Usage: faultbox-bench-exec [--accel auto|kvm|tcg] [--iterations N] [--big-mib M] [--big-runs R]
//                            [--qga PATH-OF-qemu-ga] [--json]
// --json prints every sample (milliseconds, MiB/s) for bench/all; otherwise a table of medians.
#include "common/temp_dir.h"
#include "orchestrator/core/log.h"
#include "orchestrator/vm/session.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <optional>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace fb;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// A blocking client of qemu-guest-agent's JSON protocol on QEMU's end of its port: one
// command per line, one reply per line.
class QgaClient {
 public:
  ~QgaClient() {
    if (fd_ >= 0) close(fd_);
  }
  bool connect_to(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    return fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  // Sends cmd and returns its "return" member; an "error" reply or a dead socket is empty.
  std::optional<nlohmann::json> call(const nlohmann::json& cmd) {
    std::string line = cmd.dump() + "\n";
    if (write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return std::nullopt;
    while (true) {
      auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string reply = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        auto j = nlohmann::json::parse(reply, nullptr, false);
        if (j.is_discarded()) continue;  // the 0xff of a guest-sync-delimited, or a partial line
        if (j.contains("return")) return j["return"];
        fprintf(stderr, "qemu-ga: %s\n", reply.c_str());
        return std::nullopt;
      }
      char chunk[65536];
      ssize_t n = read(fd_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  // guest-sync until the agent answers with our number: earlier lines (sent before the guest
  // opened its port) are skipped.
  bool sync(std::chrono::seconds within) {
    auto deadline = Clock::now() + within;
    for (long long id = 1; Clock::now() < deadline; ++id) {
      std::string line = nlohmann::json{{"execute", "guest-sync"}, {"arguments", {{"id", id}}}}.dump() + "\n";
      if (write(fd_, line.data(), line.size()) < 0) return false;
      pollfd p{fd_, POLLIN, 0};
      auto until = Clock::now() + std::chrono::milliseconds(500);
      while (Clock::now() < until && poll(&p, 1, 100) > 0) {
        char chunk[4096];
        ssize_t n = read(fd_, chunk, sizeof chunk);
        if (n <= 0) return false;
        buf_.append(chunk, static_cast<std::size_t>(n));
        if (buf_.find("{\"return\": " + std::to_string(id) + "}") != std::string::npos) {
          buf_.clear();
          return true;
        }
      }
    }
    return false;
  }
  // guest-exec of argv, then guest-exec-status until it exited (polling every poll_ms; 0: at
  // once again). Returns the decoded length of the captured stdout, -1 on failure.
  long long exec(const std::vector<std::string>& argv, bool capture, int poll_ms, bool* truncated = nullptr) {
    nlohmann::json args = {{"path", argv[0]}, {"capture-output", capture}};
    if (argv.size() > 1) args["arg"] = std::vector<std::string>(argv.begin() + 1, argv.end());
    auto r = call({{"execute", "guest-exec"}, {"arguments", args}});
    if (!r) return -1;
    long long pid = (*r)["pid"].get<long long>();
    while (true) {
      auto st = call({{"execute", "guest-exec-status"}, {"arguments", {{"pid", pid}}}});
      if (!st) return -1;
      if ((*st)["exited"].get<bool>()) {
        if ((*st).value("exitcode", -1) != 0) return -1;
        if (truncated) *truncated = (*st).value("out-truncated", false);
        std::string b64 = (*st).value("out-data", std::string());
        std::size_t pad = b64.size() >= 2 ? (b64[b64.size() - 1] == '=') + (b64[b64.size() - 2] == '=') : 0;
        return static_cast<long long>(b64.size() / 4 * 3 - pad);
      }
      if (poll_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
    }
  }

 private:
  int fd_ = -1;
  std::string buf_;
};

// Finds the port by name in sysfs (no udev in the guest, so no /dev/virtio-ports links) and
// starts qemu-ga as a daemon; it stays in the VM after this command returns.
constexpr const char* kStartQga =
    "for d in /sys/class/virtio-ports/*; do "
    "[ \"$(cat $d/name)\" = org.qemu.guest_agent.0 ] && p=/dev/${d##*/}; done; "
    "exec \"$0\" -d -m virtio-serial -p \"$p\" -t /tmp -f /tmp/qemu-ga.pid";

}  // namespace

int main(int argc, char** argv) {
  SessionOptions o;
  o.memory_mb = 512;
  int iterations = 200, big_mib = 64, big_runs = 3;
  bool json_out = false;
  std::string qga_binary;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--json") json_out = true;
    else if (a == "--accel" && has_value) o.accel = argv[++i];
    else if (a == "--iterations" && has_value) iterations = atoi(argv[++i]);
    else if (a == "--big-mib" && has_value) big_mib = atoi(argv[++i]);
    else if (a == "--big-runs" && has_value) big_runs = atoi(argv[++i]);
    else if (a == "--qga" && has_value) qga_binary = argv[++i];
    else {
      fprintf(stderr, "faultbox-bench-exec: unknown or incomplete option %s\n", a.c_str());
      return 2;
    }
  }
  set_verbosity(Verbosity::Quiet);
  install_signal_handlers();
  std::optional<TempDir> dir;
  std::string qga_socket;
  if (!qga_binary.empty()) {
    auto d = TempDir::create(std::filesystem::temp_directory_path(), "faultbox-bench-qga-", false);
    if (!d) {
      fprintf(stderr, "temp dir: %s\n", d.error().message.c_str());
      return 1;
    }
    dir = std::move(*d);
    qga_socket = (dir->path() / "qga.sock").string();
    o.includes = {qga_binary};
    o.extra_qemu_args = {"-chardev", "socket,id=qga,server=on,wait=off,path=" + qga_socket, "-device",
                         "virtserialport,bus=vser0.0,chardev=qga,name=org.qemu.guest_agent.0"};
  }
  auto s = Session::boot(o);
  if (!s) {
    fprintf(stderr, "boot failed: %s\n", s.error().message.c_str());
    return 1;
  }
  AgentClient& agent = (*s)->agent();
  auto ignore = [](proto::Stream, std::string_view) {};
  QgaClient qga;
  if (!qga_binary.empty()) {
    ExecRequest start;
    start.argv = {"sh", "-c", kStartQga, qga_binary};
    auto r = agent.exec(start, [](proto::Stream, std::string_view d) { fwrite(d.data(), 1, d.size(), stderr); });
    if (!r || r->status.code != 0 || !qga.connect_to(qga_socket) || !qga.sync(std::chrono::seconds(60))) {
      fprintf(stderr, "qemu-ga did not come up in the VM\n");
      return 1;
    }
  }
  const bool with_qga = !qga_binary.empty();
  std::vector<double> ping, qga_ping, exec_true, qga_exec_true, mibs, qga_mibs;
  for (int i = 0; i < iterations; ++i) {
    auto p = agent.ping();
    if (!p) return 1;
    ping.push_back(std::chrono::duration<double, std::milli>(*p).count());
    if (with_qga) {
      auto t0 = Clock::now();
      if (!qga.call({{"execute", "guest-ping"}})) return 1;
      qga_ping.push_back(ms_since(t0));
    }
  }
  ExecRequest t;
  t.argv = {"true"};
  for (int i = 0; i < iterations; ++i) {
    auto t0 = Clock::now();
    auto r = agent.exec(t, ignore);
    if (!r || r->status.code != 0) return 1;
    exec_true.push_back(ms_since(t0));
    if (with_qga) {
      t0 = Clock::now();
      if (qga.exec({"true"}, false, 0) < 0) return 1;  // status asked again at once: qemu-ga's best case
      qga_exec_true.push_back(ms_since(t0));
    }
  }
  std::uint64_t gaps = 0;
  bool qga_truncated = false;
  const std::uint64_t big_bytes = static_cast<std::uint64_t>(big_mib) << 20;
  // dd, not busybox head: head -c spends 5 s of TCG user time on 64 MiB by itself
  std::vector<std::string> dd = {"dd", "if=/dev/zero", "bs=1M", "count=" + std::to_string(big_mib)};
  for (int i = 0; i < big_runs; ++i) {
    ExecRequest big;
    big.argv = dd;
    big.argv.push_back("status=none");
    std::uint64_t bytes = 0;
    auto t0 = Clock::now();
    auto r = agent.exec(big, [&](proto::Stream st, std::string_view d) {
      if (st == proto::Stream::Stdout) bytes += d.size();
    });
    double secs = ms_since(t0) / 1000;
    if (!r || bytes != big_bytes) return 1;
    gaps += r->seq_gaps;
    mibs.push_back(big_mib / secs);
    if (with_qga) {
      t0 = Clock::now();
      // qemu-ga has no status=none to pass through a shell-less exec: dd's summary goes to stderr.
      long long got = qga.exec(dd, true, 10, &qga_truncated);
      secs = ms_since(t0) / 1000;
      if (got != static_cast<long long>(big_bytes)) {
        fprintf(stderr, "qemu-ga captured %lld of %llu bytes\n", got, static_cast<unsigned long long>(big_bytes));
        return 1;
      }
      qga_mibs.push_back(big_mib / secs);
    }
  }
  if (json_out) {
    nlohmann::json j = {{"iterations", iterations}, {"big_mib", big_mib}, {"seq_gaps", gaps},
                        {"ping_ms", ping},          {"exec_true_ms", exec_true}, {"stdout_mibs", mibs}};
    if (with_qga) {
      j["qga"] = {{"ping_ms", qga_ping}, {"exec_true_ms", qga_exec_true}, {"stdout_mibs", qga_mibs},
                  {"out_truncated", qga_truncated}};
    }
    printf("%s\n", j.dump().c_str());
  } else {
    printf("| measure | faultbox | %s\n|---|---|%s\n", with_qga ? "qemu-ga |" : "", with_qga ? "---|" : "");
    auto row = [&](const char* what, const std::vector<double>& a, const std::vector<double>& b, const char* unit) {
      printf("| %s | %.3f %s |", what, median(a), unit);
      if (with_qga) printf(" %.3f %s |", median(b), unit);
      printf("\n");
    };
    row("ping round trip (median)", ping, qga_ping, "ms");
    row("exec `true` round trip (median)", exec_true, qga_exec_true, "ms");
    row("stdout of dd (median)", mibs, qga_mibs, "MiB/s");
    printf("%d round trips each, %d output runs of %d MiB, %llu seq gaps\n", iterations, big_runs, big_mib,
           static_cast<unsigned long long>(gaps));
  }
  (void)(*s)->shutdown();
  return 0;
}
