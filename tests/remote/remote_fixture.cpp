#include "tests/remote/remote_fixture.h"

#include "orchestrator/core/cache.h"

#include <catch2/catch.hpp>

#include <cstdlib>

namespace fb::test {

Remote& remote() {
  static std::unique_ptr<Remote> shared;  // destroyed at exit: sshd killed, daemon stopped
  if (shared) return *shared;
  skip_unless_root("the remote tests");
  auto r = std::make_unique<Remote>();
  r->user_cache = cache_root();
  setenv("FAULTBOX_CACHE_DIR", r->cache.path().c_str(), 1);
  auto daemon = PrivateLibvirtd::start();
  if (!daemon) FAIL(daemon.error().message);
  r->daemon = std::move(*daemon);
  auto sshd = TestSshd::start();
  if (!sshd) FAIL(sshd.error().message);  // r goes, and stops the daemon
  r->sshd = std::move(*sshd);
  r->local_uri = r->daemon->uri();
  r->ssh_uri = r->sshd->libvirt_uri(r->daemon->socket(), r->sshd->user_key());
  shared = std::move(r);
  return *shared;
}

}  // namespace fb::test
