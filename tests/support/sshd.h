#pragma once
// An sshd on 127.0.0.1 through which a private libvirtd (libvirtd.h) is reached as a remote
// host. Needs root: tests call skip_unless_root() first.
#include "common/process.h"
#include "common/result.h"
#include "tests/support/support.h"

#include <filesystem>
#include <memory>
#include <string>

namespace fb::test {

// CTest's SKIP_RETURN_CODE for tests that cannot run here; prints why first.
inline constexpr int kSkipExitCode = 77;
[[noreturn]] void skip(const std::string& why);
void skip_unless_root(const std::string& what);

class TestSshd {
 public:
  // sshd -D on 127.0.0.1:<free port>, a throw-away host key, and one user key that may log in
  // as root; its own sshd_config (no PAM, StrictModes no, keys only).
  static Result<std::unique_ptr<TestSshd>> start();
  ~TestSshd();
  TestSshd(const TestSshd&) = delete;
  TestSshd& operator=(const TestSshd&) = delete;

  int port() const { return port_; }
  std::filesystem::path user_key() const { return dir_.path() / "user_key"; }
  std::filesystem::path refused_key() const { return dir_.path() / "refused_key"; }  // not authorized
  // qemu+ssh:// to the daemon listening on `socket` on this "remote" host, logging in with
  // `key`. proxy=netcat: the remote side runs `nc -U socket`; virt-ssh-helper (proxy=native
  // or auto) would ignore socket= and dial the system daemon's default socket. command= is an
  // ssh wrapper that keeps the host key in our temp dir, not in root's ~/.ssh/known_hosts.
  std::string libvirt_uri(const std::filesystem::path& socket, const std::filesystem::path& key) const;

 private:
  TestSshd() = default;
  ScratchDir dir_;
  ChildProcess sshd_;
  int port_ = 0;
};

}  // namespace fb::test
