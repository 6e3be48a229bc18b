// The remote path end to end, before the libvirt backend exists: kernel and boot image uploaded
// through qemu+ssh into the faultbox pool, a transient domain booted from those volumes on the
// "remote" daemon, and the agent answering a sync over a virDomainOpenChannel stream that
// crosses the same ssh connection. The domain XML here is a throw-away of this test; the
// backend writes the real one.
#include "orchestrator/core/cache.h"
#include "orchestrator/vm/libvirt_storage.h"
#include "orchestrator/vm/session.h"
#include "orchestrator/vm/vm.h"
#include "protocol/protocol.h"
#include "tests/remote/remote_fixture.h"

#include "common/files.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace fb;
using namespace fb::test;

TEST_CASE("a domain booted through qemu+ssh from uploaded kernel and initrd answers the agent", "[boot]") {
  Remote& r = remote();
  // The kernel and image of faultbox's own cache (scripts/test builds them before ctest).
  set_cache_root(r.user_cache);
  auto kernel = find_kernel("");
  if (!kernel) FAIL(kernel.error().message);
  if (!*kernel) skip("no cached faultbox kernel: run `faultbox kernel build` first");
  auto initrd = resolve_initrd("", {});
  if (!initrd) FAIL(initrd.error().message);
  set_cache_root({});  // back to the tests' own cache (FAULTBOX_CACHE_DIR)

  auto conn = connect_libvirt(r.ssh_uri);
  if (!conn) FAIL(conn.error().message);
  auto store = VolumeStore::open(conn->get());
  if (!store) FAIL(store.error().message);
  auto t0 = std::chrono::steady_clock::now();
  auto kernel_on_host = store->ensure_input(**kernel);
  if (!kernel_on_host) FAIL(kernel_on_host.error().message);
  auto initrd_on_host = store->ensure_input(*initrd);
  if (!initrd_on_host) FAIL(initrd_on_host.error().message);
  double upload_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  WARN("uploaded kernel + initrd over qemu+ssh: " << store->counters().upload_bytes << " bytes in " << upload_s << " s");
  CHECK(store->counters().uploads == 2);
  // What every later run pays: hashes from the cache, the pool listed, nothing sent.
  auto again_t0 = std::chrono::steady_clock::now();
  auto store2 = VolumeStore::open(conn->get());
  if (!store2) FAIL(store2.error().message);
  auto kernel_again = store2->ensure_input(**kernel);
  auto initrd_again = store2->ensure_input(*initrd);
  REQUIRE(kernel_again);
  REQUIRE(initrd_again);
  CHECK(*kernel_again == *kernel_on_host);
  CHECK(*initrd_again == *initrd_on_host);
  CHECK(store2->counters().upload_bytes == 0);
  WARN("the same two again: " << store2->counters().upload_bytes << " bytes in "
                              << std::chrono::duration<double>(std::chrono::steady_clock::now() - again_t0).count() << " s");

  VmSpec spec;
  spec.kernel = **kernel;
  spec.initrd = *initrd;
  std::string name = "faultbox-remote-boot-" + std::to_string(getpid());
  std::string console_log = "/var/log/libvirt/" + name + "-console.log";  // on the host
  std::string xml = "<domain type='qemu'><name>" + name +
                    "</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>"
                    "<os><type arch='x86_64' machine='pc'>hvm</type><kernel>" + *kernel_on_host +
                    "</kernel><initrd>" + *initrd_on_host + "</initrd><cmdline>" + guest_kernel_cmdline(spec) +
                    "</cmdline></os><features><acpi/></features><on_reboot>destroy</on_reboot>"
                    "<on_crash>destroy</on_crash><devices>"
                    "<serial type='file'><source path='" + console_log + "'/><target port='0'/></serial>"
                    "<channel type='unix'><source mode='bind'/><target type='virtio' name='" +
                    proto::kControlPortName + "'/></channel>"
                    "<channel type='unix'><source mode='bind'/><target type='virtio' name='" +
                    proto::kTracePortName + "'/></channel>"
                    "<memballoon model='none'/></devices></domain>";
  auto boot_t0 = std::chrono::steady_clock::now();
  lv::Domain dom(virDomainCreateXML(conn->get(), xml.c_str(), 0));
  if (!dom) FAIL(lv::last_error("create domain"));
  struct Destroy {
    virDomainPtr d;
    ~Destroy() { virDomainDestroy(d); }
  } destroy{dom.get()};

  lv::Stream stream(virStreamNew(conn->get(), 0));
  REQUIRE(stream);
  if (virDomainOpenChannel(dom.get(), proto::kControlPortName, stream.get(), 0) != 0)
    FAIL(lv::last_error("open channel " + std::string(proto::kControlPortName)));
  // The agent opens its port only once it is up: ask again until a sync comes back. The reads
  // block, so they run in a thread; destroying the domain ends the stream if nothing comes.
  const std::string token = "remote-" + std::to_string(getpid());
  std::atomic<bool> answered{false};
  std::string received;
  std::thread reader([&] {
    char buf[4096];
    for (;;) {
      int n = virStreamRecv(stream.get(), buf, sizeof buf);
      if (n <= 0) return;
      received.append(buf, static_cast<std::size_t>(n));
      if (received.find("\"token\":\"" + token + "\"") != std::string::npos) {
        answered = true;
        return;
      }
    }
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int id = 0;
  while (!answered && std::chrono::steady_clock::now() < deadline) {
    std::string line = "{\"id\":" + std::to_string(++id) + ",\"op\":\"sync\",\"token\":\"" + token + "\"}\n";
    virStreamSend(stream.get(), line.data(), line.size());
    for (int i = 0; i < 10 && !answered; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  double boot_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - boot_t0).count();
  virDomainDestroy(dom.get());
  reader.join();
  auto console = read_file(r.daemon->var_log() / (name + "-console.log"));
  INFO("console: " << (console ? last_lines(*console, 15) : console.error().message));
  INFO("received: " << received);
  REQUIRE(answered);
  WARN("domain start to the agent's sync reply over qemu+ssh: " << boot_s << " s");

  // Gone after destroy: a transient domain leaves no definition behind.
  lv::Domain after(virDomainLookupByName(conn->get(), name.c_str()));
  CHECK_FALSE(after);
}
