// VolumeStore against a real libvirtd of the test's own, over its local socket and over
// qemu+ssh:// through a real sshd on 127.0.0.1: a kernel-sized input goes up once, comes back
// identical, is reused, survives racing uploaders and a killed one; scratch disks go up, come
// back with what was written on the host, and go away. No VM boots.
#include "common/process.h"
#include "orchestrator/disks/disk_image.h"
#include "orchestrator/vm/libvirt_storage.h"

#include <nlohmann/json.hpp>
#include "tests/remote/remote_fixture.h"
#include "tests/support/support.h"

#include "common/files.h"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <set>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace fb;
using namespace fb::test;

namespace {

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937_64 gen(seed);
  std::string s(n, '\0');
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    auto v = gen();
    std::memcpy(&s[i], &v, 8);
  }
  return s;
}

// A sparse file: data, a hole, data, a hole to the end.
fs::path make_sparse_file(const fs::path& dir, unsigned seed) {
  fs::path p = dir / ("sparse-" + std::to_string(seed) + ".img");
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  std::string a = random_bytes(1 << 20, seed), b = random_bytes(512 << 10, seed + 1);
  REQUIRE(pwrite(fd, a.data(), a.size(), 0) == static_cast<ssize_t>(a.size()));
  REQUIRE(pwrite(fd, b.data(), b.size(), 5 << 20) == static_cast<ssize_t>(b.size()));
  REQUIRE(ftruncate(fd, 8 << 20) == 0);
  close(fd);
  return p;
}

fs::path make_dense_file(const fs::path& dir, std::size_t size, unsigned seed) {
  fs::path p = dir / ("dense-" + std::to_string(seed) + ".img");
  REQUIRE(write_file_atomic(p, random_bytes(size, seed)));
  return p;
}

lv::Connect connect(const std::string& uri) {
  auto conn = libvirt_connect(uri);
  if (!conn) FAIL(conn.error().message);
  return std::move(*conn);
}

VolumeStore open_store(virConnectPtr conn) {
  auto store = VolumeStore::open(conn);
  if (!store) FAIL(store.error().message);
  return std::move(*store);
}

std::vector<std::string> pool_volumes(virConnectPtr conn) {
  lv::Pool pool(virStoragePoolLookupByName(conn, "faultbox"));
  REQUIRE(pool);
  REQUIRE(virStoragePoolRefresh(pool.get(), 0) == 0);
  virStorageVolPtr* vols = nullptr;
  int n = virStoragePoolListAllVolumes(pool.get(), &vols, 0);
  REQUIRE(n >= 0);
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    names.emplace_back(virStorageVolGetName(vols[i]));
    virStorageVolFree(vols[i]);
  }
  free(vols);
  return names;
}

std::vector<std::string> with_prefix(const std::vector<std::string>& names, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& n : names)
    if (n.rfind(prefix, 0) == 0) out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

// Downloads the volume at host_path and compares it with local, byte for byte.
void require_same_content(virConnectPtr conn, const std::string& host_path, const fs::path& local, const fs::path& scratch) {
  lv::Vol vol(virStorageVolLookupByPath(conn, host_path.c_str()));
  REQUIRE(vol);
  fs::path back = scratch / "downloaded";
  auto got = download_volume(conn, vol.get(), back, host_path);
  if (!got) FAIL(got.error().message);
  auto a = read_file(local), b = read_file(back);
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(a->size() == b->size());
  bool identical = *a == *b;  // not REQUIRE(*a == *b): Catch would print megabytes on failure
  REQUIRE(identical);
  fs::remove(back);
}

// What a per-transport section starts from: a scratch dir, a connection, a store on it.
struct OnTransport {
  ScratchDir dir;
  lv::Connect conn;
  VolumeStore store;
  explicit OnTransport(const std::string& uri) : conn(connect(uri)), store(open_store(conn.get())) {}
};

struct Transport {
  const char* name;
  std::string Remote::*uri;
};
const Transport kTransports[] = {{"local socket", &Remote::local_uri}, {"qemu+ssh", &Remote::ssh_uri}};

}  // namespace

TEST_CASE("the faultbox pool is made once, inactive or missing, also by two at once") {
  Remote& r = remote();
  auto conn = connect(r.local_uri);
  // Two stores racing to define and start the pool on a daemon that has none yet.
  std::optional<Result<VolumeStore>> a, b;
  lv::Connect conn_b = connect(r.local_uri);
  std::thread ta([&] { a.emplace(VolumeStore::open(conn.get())); });
  std::thread tb([&] { b.emplace(VolumeStore::open(conn_b.get())); });
  ta.join();
  tb.join();
  if (!*a) FAIL(a->error().message);
  if (!*b) FAIL(b->error().message);
  lv::Pool pool(virStoragePoolLookupByName(conn.get(), "faultbox"));
  REQUIRE(pool);
  CHECK(virStoragePoolIsActive(pool.get()) == 1);
  int autostart = -1;
  REQUIRE(virStoragePoolGetAutostart(pool.get(), &autostart) == 0);
  CHECK(autostart == 0);
  CHECK((*a)->pool_dir() == "/var/lib/libvirt/faultbox");
  // The daemon's /var/lib/libvirt is our temp dir: the pool's directory is really there.
  CHECK(fs::is_directory(r.daemon->var_lib() / "faultbox"));

  // A stopped pool (a restarted daemon does not autostart it) is started again.
  REQUIRE(virStoragePoolDestroy(pool.get()) == 0);
  auto again = VolumeStore::open(conn.get());
  if (!again) FAIL(again.error().message);
  CHECK(virStoragePoolIsActive(pool.get()) == 1);
}

TEST_CASE("an input goes up once, comes back identical and sparse, and is reused") {
  Remote& r = remote();
  for (const auto& t : kTransports) {
    DYNAMIC_SECTION(t.name) {
      OnTransport on(r.*t.uri);
      auto& [dir, conn, store] = on;
      fs::path file = make_sparse_file(dir.path(), t.uri == &Remote::local_uri ? 1 : 2);

      auto path = store.ensure_input(file);
      if (!path) FAIL(path.error().message);
      CHECK(path->rfind("/var/lib/libvirt/faultbox/faultbox-input-", 0) == 0);
      // Only the data went over the wire: 1 MiB + 512 KiB of an 8 MiB file.
      CHECK(store.counters().uploads == 1);
      CHECK(store.counters().upload_bytes == (1u << 20) + (512u << 10));
      require_same_content(conn.get(), *path, file, dir.path());
      // The copy on the host is sparse too (the daemon's pool dir is our temp dir).
      struct stat st {};
      REQUIRE(stat((r.daemon->var_lib() / "faultbox" / fs::path(*path).filename()).c_str(), &st) == 0);
      CHECK(st.st_size == 8 << 20);
      CHECK(st.st_blocks * 512 < 4 << 20);

      // A second run (a new store, a new connection) uploads nothing and gets the same volume.
      auto conn2 = connect(r.*t.uri);
      auto store2 = open_store(conn2.get());
      auto path2 = store2.ensure_input(file);
      if (!path2) FAIL(path2.error().message);
      CHECK(*path2 == *path);
      CHECK(store2.counters().uploads == 0);
      CHECK(store2.counters().upload_bytes == 0);
    }
  }
}

TEST_CASE("the content hash is cached per file identity and follows a change of the file") {
  Remote& r = remote();
  (void)r;
  ScratchDir dir;
  fs::path file = make_dense_file(dir.path(), 4096, 7);
  auto first = cached_content_hash(file);
  REQUIRE(first);
  CHECK(*first == sha256_of(*read_file(file)));
  auto cached = cached_content_hash(file);
  REQUIRE(cached);
  CHECK(*cached == *first);
  // Same size, new content: the mtime (or inode, by the atomic write) changes the key.
  REQUIRE(write_file_atomic(file, random_bytes(4096, 8)));
  auto changed = cached_content_hash(file);
  REQUIRE(changed);
  CHECK(*changed == sha256_of(*read_file(file)));
  CHECK(*changed != *first);
}

TEST_CASE("two threads ensuring the same input upload it once") {
  Remote& r = remote();
  ScratchDir dir;
  fs::path file = make_dense_file(dir.path(), 6 << 20, 11);
  lv::Connect c1 = connect(r.local_uri), c2 = connect(r.local_uri);
  auto s1 = open_store(c1.get());
  auto s2 = open_store(c2.get());
  std::optional<Result<std::string>> p1, p2;
  std::thread t1([&] { p1.emplace(s1.ensure_input(file)); });
  std::thread t2([&] { p2.emplace(s2.ensure_input(file)); });
  t1.join();
  t2.join();
  if (!*p1) FAIL(p1->error().message);
  if (!*p2) FAIL(p2->error().message);
  CHECK(**p1 == **p2);
  // Same process, same owner tag: the second found the first's upload under way and waited.
  CHECK(s1.counters().upload_bytes + s2.counters().upload_bytes == 6u << 20);
  require_same_content(c1.get(), **p1, file, dir.path());
}

TEST_CASE("two processes ensuring the same input both get a complete copy") {
  Remote& r = remote();
  for (const auto& t : kTransports) {
    DYNAMIC_SECTION(t.name) {
      ScratchDir dir;
      fs::path file = make_dense_file(dir.path(), 8 << 20, t.uri == &Remote::local_uri ? 21 : 22);
      std::string tool = env_or_fail("VOLUME_STORE_TOOL");
      std::optional<Run> a, b;
      std::thread ta([&] { a = run({tool, "input", r.*t.uri, file.string()}); });
      std::thread tb([&] { b = run({tool, "input", r.*t.uri, file.string()}); });
      ta.join();
      tb.join();
      INFO(a->err << b->err);
      REQUIRE(a->status.code == 0);
      REQUIRE(b->status.code == 0);
      auto conn = connect(r.local_uri);
      std::string hash = sha256_of(*read_file(file));
      auto mine = with_prefix(pool_volumes(conn.get()), "faultbox-input-" + hash + "_");
      // Every data volume has its marker (no half upload), at most one per process.
      std::size_t img = 0, done = 0;
      for (const auto& n : mine) (n.ends_with(".img") ? img : done)++;
      CHECK(img == done);
      CHECK(img >= 1);
      CHECK(img <= 2);
      for (const std::optional<Run>* run_ : {&a, &b}) {
        std::string out = (*run_)->out;
        std::string path = out.substr(0, out.find(' '));
        require_same_content(conn.get(), path, file, dir.path());
      }
    }
  }
}

TEST_CASE("an upload killed half-way leaves nothing that looks complete and is cleaned up") {
  Remote& r = remote();
  for (const auto& t : kTransports) {
    DYNAMIC_SECTION(t.name) {
      ScratchDir dir;
      fs::path file = make_dense_file(dir.path(), 16 << 20, t.uri == &Remote::local_uri ? 31 : 32);
      std::string hash = sha256_of(*read_file(file));
      auto killed = run({env_or_fail("VOLUME_STORE_TOOL"), "input", r.*t.uri, file.string(), "--die-after-bytes",
                         std::to_string(2 << 20)});
      INFO(killed.err);
      REQUIRE(killed.status.signal == SIGKILL);
      auto conn = connect(r.local_uri);
      auto left = with_prefix(pool_volumes(conn.get()), "faultbox-input-" + hash + "_");
      // The dead process's data volume is there, without the marker that would make it count.
      REQUIRE(left.size() == 1);
      CHECK(left[0].ends_with(".img"));
      CHECK(left[0].find("_" + std::to_string(killed.pid) + "-") != std::string::npos);

      // The next ensure does not take it: it deletes it and uploads the whole file.
      auto store = open_store(conn.get());
      auto path = store.ensure_input(file);
      if (!path) FAIL(path.error().message);
      CHECK(store.counters().upload_bytes == 16u << 20);
      require_same_content(conn.get(), *path, file, dir.path());
      auto now = with_prefix(pool_volumes(conn.get()), "faultbox-input-" + hash + "_");
      CHECK(now.size() == 2);  // ours: .done and .img
      CHECK(std::find(now.begin(), now.end(), left[0]) == now.end());
    }
  }
}

TEST_CASE("a scratch disk goes up, comes back with what was written on the host, and goes away") {
  Remote& r = remote();
  for (const auto& t : kTransports) {
    DYNAMIC_SECTION(t.name) {
      OnTransport on(r.*t.uri);
      auto& [dir, conn, store] = on;
      fs::path disk = make_sparse_file(dir.path(), t.uri == &Remote::local_uri ? 41 : 42);
      std::string name;
      {
        auto scratch = store.upload_scratch(disk, "data disk");
        if (!scratch) FAIL(scratch.error().message);
        name = scratch->name();
        CHECK(name.rfind("faultbox-scratch-", 0) == 0);
        CHECK(name.find("data-disk") != std::string::npos);
        // What the guest would do: write into the disk on the host, here in the middle of the hole.
        fs::path on_host = r.daemon->var_lib() / "faultbox" / name;
        REQUIRE(fs::path(scratch->host_path()).filename() == name);
        int fd = ::open(on_host.c_str(), O_WRONLY);
        REQUIRE(fd >= 0);
        REQUIRE(pwrite(fd, "written by the guest", 20, 3 << 20) == 20);
        close(fd);
        fs::path back = dir.path() / "after-run.img";
        auto got = scratch->download_to(back);
        if (!got) FAIL(got.error().message);
        auto before = read_file(disk), after = read_file(back);
        REQUIRE(after->size() == before->size());
        CHECK(after->substr(3 << 20, 20) == "written by the guest");
        std::string expected = *before;
        expected.replace(3 << 20, 20, "written by the guest");
        bool as_written = *after == expected;
        CHECK(as_written);
        CHECK(*got < 2u << 20);  // the holes stayed holes on the way back
        CHECK(with_prefix(pool_volumes(conn.get()), name).size() == 1);
      }
      CHECK(with_prefix(pool_volumes(conn.get()), name).empty());
    }
  }
}

TEST_CASE("scratch volumes of a killed faultbox are removed by the next one's cleanup") {
  Remote& r = remote();
  ScratchDir dir;
  fs::path disk = make_dense_file(dir.path(), 64 << 10, 51);
  auto killed = run({env_or_fail("VOLUME_STORE_TOOL"), "scratch", r.local_uri, disk.string(), "--die"});
  INFO(killed.err);
  REQUIRE(killed.status.signal == SIGKILL);
  std::string name = killed.out.substr(0, killed.out.find('\n'));
  auto conn = connect(r.local_uri);
  REQUIRE(with_prefix(pool_volumes(conn.get()), name).size() == 1);
  auto store = open_store(conn.get());
  // A scratch volume of a live owner (us) stays.
  auto live = store.upload_scratch(disk, "live");
  if (!live) FAIL(live.error().message);
  auto removed = store.remove_orphans();
  if (!removed) FAIL(removed.error().message);
  CHECK(*removed >= 1);
  CHECK(with_prefix(pool_volumes(conn.get()), name).empty());
  CHECK(with_prefix(pool_volumes(conn.get()), live->name()).size() == 1);
}

TEST_CASE("a refused ssh key, a wrong socket or a host nobody serves fail in one line") {
  Remote& r = remote();
  struct Case {
    const char* what;
    std::string uri;
    const char* says;
  } cases[] = {
      {"refused key", r.sshd->libvirt_uri(r.daemon->socket(), r.sshd->refused_key()), "Permission denied"},
      {"no daemon on that socket", r.sshd->libvirt_uri("/nonexistent/libvirt-sock", r.sshd->user_key()), "nonexistent"},
      {"no sshd on that port", "qemu+ssh://root@127.0.0.1:1/system?no_verify=1&proxy=netcat", "127.0.0.1"},
      {"wrong local socket", "qemu:///system?socket=/nonexistent/libvirt-sock", "nonexistent"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.what) {
      auto t0 = std::chrono::steady_clock::now();
      auto conn = libvirt_connect(c.uri);
      REQUIRE_FALSE(conn);
      INFO(conn.error().message);
      CHECK(conn.error().kind == ErrorKind::Infra);
      CHECK(conn.error().message.find('\n') == std::string::npos);
      CHECK(conn.error().message.rfind("libvirt: cannot connect to " + c.uri, 0) == 0);
      CHECK(conn.error().message.find(c.says) != std::string::npos);
      CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(15));
    }
  }
}

TEST_CASE("the backend's file seam over the pool: inputs by content, a written disk fetched back") {
  Remote& r = remote();
  ScratchDir dir;
  auto conn = connect(r.ssh_uri);
  std::string staged_disk;
  {
    PoolDomainFiles files(open_store(conn.get()));
    fs::path kernel = make_dense_file(dir.path(), 256 << 10, 61);
    fs::path disk = make_sparse_file(dir.path(), 62);
    auto k1 = files.stage_input(kernel);
    auto k2 = files.stage_input(kernel);
    REQUIRE(k1);
    REQUIRE(k2);
    CHECK(*k1 == *k2);
    CHECK(files.store().counters().uploads == 1);
    auto staged = files.stage_writable(disk);
    if (!staged) FAIL(staged.error().message);
    staged_disk = *staged;
    fs::path on_host = r.daemon->var_lib() / "faultbox" / fs::path(*staged).filename();
    int fd = ::open(on_host.c_str(), O_WRONLY);
    REQUIRE(fd >= 0);
    REQUIRE(pwrite(fd, "guest", 5, 7 << 20) == 5);
    close(fd);
    auto fetched = files.fetch_writable(*staged, disk);  // back over the file it came from
    if (!fetched) FAIL(fetched.error().message);
    CHECK(read_file(disk)->substr(7 << 20, 5) == "guest");
    CHECK_FALSE(fs::exists(on_host));
    CHECK_FALSE(files.fetch_writable(*staged, disk));  // fetched once, then gone
    // One staged and never fetched (the run failed before): deleted with the seam.
    auto unfetched = files.stage_writable(disk);
    REQUIRE(unfetched);
    staged_disk = *unfetched;
    CHECK(fs::exists(r.daemon->var_lib() / "faultbox" / fs::path(staged_disk).filename()));
  }
  CHECK_FALSE(fs::exists(r.daemon->var_lib() / "faultbox" / fs::path(staged_disk).filename()));

  // A qcow2 overlay on a local base (what every scenario disk is): the base goes up once as an
  // input, the overlay alone as scratch, naming the host's base; back home it names the local one.
  auto backing_of = [](const fs::path& image) {
    auto info = run_capture({"qemu-img", "info", "-U", "--output=json", image.string()});
    REQUIRE(info);
    return nlohmann::json::parse(info->output).value("backing-filename", "");
  };
  PoolDomainFiles files(open_store(conn.get()));
  fs::path base = make_dense_file(dir.path(), 1 << 20, 63);
  fs::path overlay = dir.path() / "disk.qcow2";
  REQUIRE(create_overlay(base, "raw", overlay));
  auto staged = files.stage_writable(overlay);
  if (!staged) FAIL(staged.error().message);
  CHECK(files.store().counters().uploads == 2);  // the base as an input, then the overlay
  std::string host_base = backing_of(r.daemon->var_lib() / "faultbox" / fs::path(*staged).filename());
  CHECK_THAT(host_base, Catch::StartsWith("/var/lib/libvirt/faultbox/faultbox-input-"));
  if (auto back = files.fetch_writable(*staged, overlay); !back) FAIL(back.error().message);
  CHECK(backing_of(overlay) == fs::absolute(base).string());
  auto again = files.stage_writable(overlay);  // the next run: the overlay only
  REQUIRE(again);
  CHECK(files.store().counters().uploads == 3);
}
