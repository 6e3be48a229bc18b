#pragma once
// One private libvirtd and one sshd per test process (the daemon takes ~8 s to start), reached
// over its local socket and over qemu+ssh://. Skips (exit 77) when not root.
#include "tests/support/libvirtd.h"
#include "tests/support/sshd.h"
#include "tests/support/support.h"

#include <filesystem>
#include <memory>
#include <string>

namespace fb::test {

struct Remote {
  std::filesystem::path user_cache;  // faultbox's cache before the tests replaced it
  ScratchDir cache;                  // content-hash cache of these tests (FAULTBOX_CACHE_DIR)
  std::unique_ptr<PrivateLibvirtd> daemon;
  std::unique_ptr<TestSshd> sshd;
  std::string local_uri, ssh_uri;
};

Remote& remote();

}  // namespace fb::test
