#pragma once
// A libvirtd of the tests' own (scripts/private-libvirtd: private config, state and socket, in a
// mount namespace of its own), shared by every test of one test binary: started on first use
// (about 8 s under TCG), stopped when the binary exits. Needs root.
#include <optional>
#include <string>
#include <vector>

namespace fb::test {

class PrivateLibvirtd {
 public:
  // The binary's daemon, started on first call; nullopt with the reason in `why` when it cannot
  // run here (not root, or it failed to start).
  static PrivateLibvirtd* shared(std::string& why);
  ~PrivateLibvirtd();

  const std::string& uri() const { return uri_; }
  // Names of the daemon's domains (running ones, or also defined ones with all = true).
  std::vector<std::string> domains(bool all = true) const;

 private:
  PrivateLibvirtd() = default;
  std::string dir_, uri_;
};

// The script itself, for tests that start or stop a daemon of their own.
std::string private_libvirtd_script();

}  // namespace fb::test
