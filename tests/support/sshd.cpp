#include "tests/support/sshd.h"

#include "common/files.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace fb::test {
namespace fs = std::filesystem;

void skip(const std::string& why) {
  std::fprintf(stderr, "SKIP: %s\n", why.c_str());
  std::fflush(stderr);
  std::_Exit(kSkipExitCode);
}

void skip_unless_root(const std::string& what) {
  if (geteuid() != 0) skip(what + ": needs root (a private libvirtd in a mount namespace, sshd)");
}

// A port nobody listens on now; sshd binds it a moment later (retried when someone was faster).
static int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

static bool accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

Result<std::unique_ptr<TestSshd>> TestSshd::start() {
  std::string sshd = find_in_path("sshd");
  if (sshd.empty() && fs::exists("/usr/sbin/sshd")) sshd = "/usr/sbin/sshd";
  if (sshd.empty()) return make_error(ErrorKind::Infra, "sshd not found: install openssh-server (scripts/setup does)");
  std::unique_ptr<TestSshd> fixture(new TestSshd);
  const fs::path dir = fixture->dir_.path();
  for (const char* key : {"host_key", "user_key", "refused_key"}) {
    auto gen = run_capture({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key, "-f", (dir / key).string()}, true);
    if (!gen || gen->status.code != 0)
      return make_error(ErrorKind::Infra, "ssh-keygen failed: {}", gen ? gen->output : gen.error().message);
  }
  auto user_pub = read_file(dir / "user_key.pub");
  auto host_pub = read_file(dir / "host_key.pub");
  if (!user_pub || !host_pub) return make_error(ErrorKind::Infra, "ssh-keygen left no public keys in {}", dir.string());
  FB_TRY(write_file_atomic(dir / "authorized_keys", *user_pub, 0600));
  // sshd's privilege separation directory, normally made by its init script.
  std::error_code ec;
  fs::create_directories("/run/sshd", ec);

  for (int attempt = 0; attempt < 3; ++attempt) {
    int port = free_port();
    std::string config = "ListenAddress 127.0.0.1\nPort " + std::to_string(port) + "\nHostKey " +
                         (dir / "host_key").string() + "\nAuthorizedKeysFile " + (dir / "authorized_keys").string() +
                         "\nPidFile none\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
                         "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                         "AllowUsers root\n";
    FB_TRY(write_file_atomic(dir / "sshd_config", config, 0600));
    // Only this fixture's host key is known, and not in root's ~/.ssh: libvirt runs `command=`
    // instead of ssh, with its usual ssh arguments after ours.
    std::string host_key_line = host_pub->substr(0, host_pub->find(' ', host_pub->find(' ') + 1));
    FB_TRY(write_file_atomic(dir / "known_hosts", "[127.0.0.1]:" + std::to_string(port) + " " + host_key_line + "\n"));
    FB_TRY(write_file_atomic(dir / "ssh",
                             "#!/bin/sh\nexec ssh -F none -o UserKnownHostsFile=" + (dir / "known_hosts").string() +
                                 " -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes \"$@\"\n",
                             0755));
    Fd log(::open((dir / "sshd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    SpawnOptions opts;
    opts.stderr_fd = log.get();
    opts.new_process_group = true;
    auto child = ChildProcess::spawn({sshd, "-D", "-e", "-f", (dir / "sshd_config").string()}, opts);
    if (!child) return child.error();
    for (int i = 0; i < 100 && child->running(); ++i) {
      if (accepts(port)) {
        fixture->sshd_ = std::move(*child);
        fixture->port_ = port;
        return fixture;
      }
      (void)child->try_wait();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    child->kill();
  }
  auto log = read_file(dir / "sshd.log");
  return make_error(ErrorKind::Infra, "sshd did not listen: {}", log ? *log : "(no log)");
}

TestSshd::~TestSshd() { sshd_.kill(); }

std::string TestSshd::libvirt_uri(const fs::path& socket, const fs::path& key) const {
  return "qemu+ssh://root@127.0.0.1:" + std::to_string(port_) + "/system?socket=" + socket.string() +
         "&keyfile=" + key.string() + "&proxy=netcat&command=" + (dir_.path() / "ssh").string();
}

}  // namespace fb::test
