#pragma once
// A libvirtd of the tests' own (scripts/private-libvirtd: private config, state and socket, in a
// mount namespace of its own), about 8 s to start under TCG. Needs root. Either one per test
// binary (shared(): started on first use, stopped when the binary exits) or one a test owns
// (start()).
#include "common/result.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace fb::test {

class PrivateLibvirtd {
 public:
  static Result<std::unique_ptr<PrivateLibvirtd>> start();
  // The binary's daemon, started on first call; nullptr with the reason in `why` when it cannot
  // run here (not root, or it failed to start).
  static PrivateLibvirtd* shared(std::string& why);
  ~PrivateLibvirtd();  // scripts/private-libvirtd stop: its domains destroyed, the daemon gone
  PrivateLibvirtd(const PrivateLibvirtd&) = delete;
  PrivateLibvirtd& operator=(const PrivateLibvirtd&) = delete;

  const std::string& uri() const { return uri_; }  // qemu:///system?socket=...
  std::filesystem::path socket() const { return dir_ / "sock/libvirt-sock"; }
  // The daemon's /var/lib/libvirt and /var/log/libvirt as seen from outside its namespace.
  std::filesystem::path var_lib() const { return dir_ / "lib"; }
  std::filesystem::path var_log() const { return dir_ / "log"; }
  // Names of the daemon's domains (running ones, or also defined ones with all = true).
  std::vector<std::string> domains(bool all = true) const;

 private:
  PrivateLibvirtd() = default;
  std::filesystem::path dir_;
  std::string uri_;
};

// The script itself, for tests that start or stop a daemon of their own.
std::string private_libvirtd_script();

}  // namespace fb::test
