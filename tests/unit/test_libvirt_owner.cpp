// The owner tag in faultbox's volume names: read back exactly, garbage refused, and "gone"
// only for a process of this boot that no longer exists.
#include "common/process.h"
#include "orchestrator/vm/libvirt_owner.h"

#include <catch2/catch.hpp>

#include <unistd.h>

using namespace fb;

TEST_CASE("an owner tag reads back as the same owner") {
  const LibvirtOwner& me = LibvirtOwner::self();
  CHECK(me.pid == getpid());
  CHECK(me.start_ticks > 0);
  CHECK(me.boot_id.size() == 36);
  auto back = LibvirtOwner::parse(me.tag());
  REQUIRE(back);
  CHECK(*back == me);
  for (const char* bad : {"", "12", "12-34", "-34@b", "12-@b", "x-34@b", "12-34@", "0-34@b", "12-3x@b"}) {
    INFO(bad);
    CHECK_FALSE(LibvirtOwner::parse(bad));
  }
}

TEST_CASE("an owner is gone only when it ran in this boot and its process is no more") {
  const LibvirtOwner& me = LibvirtOwner::self();
  CHECK_FALSE(me.gone());
  // Same pid, another start time: the pid was reused.
  LibvirtOwner reused = me;
  reused.start_ticks += 1;
  CHECK(reused.gone());
  // A process that has exited and been reaped.
  auto child = ChildProcess::spawn({"true"});
  REQUIRE(child);
  LibvirtOwner dead{me.boot_id, child->pid(), me.start_ticks};
  child->wait();
  CHECK(dead.gone());
  // Another boot (or host): never judged from here.
  LibvirtOwner elsewhere = dead;
  elsewhere.boot_id = "00000000-0000-0000-0000-000000000000";
  CHECK_FALSE(elsewhere.gone());
}

TEST_CASE("the orphan rule: a dead owner or a reused pid on this boot, never another host's object") {
  auto alive_since = [](unsigned long long t) {
    return [t](pid_t) -> std::optional<unsigned long long> { return t; };
  };
  auto no_process = [](pid_t) -> std::optional<unsigned long long> { return std::nullopt; };
  LibvirtOwner o{"boot-a", 100, 5000};
  CHECK(!o.gone("boot-a", alive_since(5000)));  // its owner still runs
  CHECK(o.gone("boot-a", no_process));          // its owner is gone
  CHECK(o.gone("boot-a", alive_since(9000)));   // the pid now names a later process
  CHECK(!o.gone("boot-b", no_process));         // another host (or boot): not ours to judge
  CHECK(!LibvirtOwner::start_ticks_of(0x7ffffff0));
}
