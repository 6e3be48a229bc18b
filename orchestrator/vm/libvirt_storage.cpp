#include "orchestrator/vm/libvirt_storage.h"

#include "common/fd.h"
#include "common/files.h"
#include "common/process.h"
#include "common/temp_dir.h"
#include "orchestrator/core/cache.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace fb {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kInputPrefix = "faultbox-input-";
constexpr std::string_view kScratchPrefix = "faultbox-scratch-";

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view x) { return s.size() >= x.size() && s.substr(s.size() - x.size()) == x; }

// The owner tag of a faultbox volume name: between the first '_' and the extension.
std::optional<LibvirtOwner> owner_of(const std::string& name) {
  auto underscore = name.find('_');
  auto dot = name.rfind('.');
  if (underscore == std::string::npos || dot == std::string::npos || dot < underscore) return std::nullopt;
  return LibvirtOwner::parse(name.substr(underscore + 1, dot - underscore - 1));
}

// What faultbox puts into pool and volume XML is made of these characters (names from hashes,
// owner tags and volume_label; the pool's own name and directory), so nothing needs escaping.
bool xml_safe(std::string_view text) {
  return !text.empty() && text.find_first_of("<>&'\"") == std::string_view::npos;
}

// Volume names a person can read: the local file's name without anything odd in it.
std::string volume_label(std::string_view label) {
  std::string out;
  for (char c : label.substr(0, 40))
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '-';
  return out.empty() ? "disk" : out;
}

Error infra(const std::string& what) { return Error{ErrorKind::Infra, lv::last_error(what)}; }

Result<std::vector<std::string>> volume_names(virStoragePoolPtr pool) {
  virStorageVolPtr* vols = nullptr;
  int n = virStoragePoolListAllVolumes(pool, &vols, 0);
  if (n < 0) return infra("list volumes of the faultbox pool");
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    lv::Vol vol(vols[i]);
    if (const char* name = virStorageVolGetName(vol.get())) names.emplace_back(name);
  }
  free(vols);
  std::sort(names.begin(), names.end());
  return names;
}

// Deletes a volume by name; one that is already gone (another faultbox cleaned it) is fine.
// False when it is still there: the daemon may still be ending a killed client's upload job.
bool delete_volume(virStoragePoolPtr pool, const std::string& name) {
  lv::Vol vol(virStorageVolLookupByName(pool, name.c_str()));
  return !vol || virStorageVolDelete(vol.get(), 0) == 0;
}

Result<std::string> volume_path(virStorageVolPtr vol, const std::string& name) {
  char* path = virStorageVolGetPath(vol);
  if (!path) return infra("path of volume " + name);
  std::string out = path;
  free(path);
  return out;
}

// The bytes of the volume's file (its physical size), not its capacity: libvirt reports a
// volume that holds a qcow2 image with the image's virtual size as capacity.
Result<std::uint64_t> volume_bytes(virStorageVolPtr vol, const std::string& name) {
  virStorageVolInfo info{};
  if (virStorageVolGetInfoFlags(vol, &info, VIR_STORAGE_VOL_GET_PHYSICAL) < 0) return infra("size of volume " + name);
  return static_cast<std::uint64_t>(info.allocation);  // with GET_PHYSICAL: the physical size
}

// Where the stream callbacks read or write the local file, and what they counted.
struct LocalFile {
  int fd;
  std::uint64_t data_bytes = 0;
  const std::function<void(std::uint64_t)>* progress = nullptr;
};

int send_data(virStreamPtr, char* buf, size_t nbytes, void* opaque) {
  auto* file = static_cast<LocalFile*>(opaque);
  ssize_t got;
  do got = read(file->fd, buf, nbytes);
  while (got < 0 && errno == EINTR);
  if (got > 0) {
    file->data_bytes += static_cast<std::uint64_t>(got);
    if (file->progress && *file->progress) (*file->progress)(file->data_bytes);
  }
  return static_cast<int>(got);
}

// Whether the read position is in data or a hole, and how long that section is (libvirt's
// contract for sparse streams), from SEEK_DATA/SEEK_HOLE.
int send_hole_query(virStreamPtr, int* in_data, long long* length, void* opaque) {
  int fd = static_cast<LocalFile*>(opaque)->fd;
  off_t cur = lseek(fd, 0, SEEK_CUR);
  if (cur < 0) return -1;
  off_t data = lseek(fd, cur, SEEK_DATA);
  if (data < 0) {
    if (errno != ENXIO) return -1;
    off_t end = lseek(fd, 0, SEEK_END);  // a hole up to the end of the file (or at the end)
    if (end < 0) return -1;
    *in_data = 0;
    *length = end - cur;
  } else if (data > cur) {
    *in_data = 0;
    *length = data - cur;
  } else {
    off_t hole = lseek(fd, cur, SEEK_HOLE);
    if (hole < 0) return -1;
    *in_data = 1;
    *length = hole - cur;
  }
  return lseek(fd, cur, SEEK_SET) < 0 ? -1 : 0;
}

int send_skip(virStreamPtr, long long length, void* opaque) {
  return lseek(static_cast<LocalFile*>(opaque)->fd, length, SEEK_CUR) < 0 ? -1 : 0;
}

int recv_data(virStreamPtr, const char* buf, size_t nbytes, void* opaque) {
  auto* file = static_cast<LocalFile*>(opaque);
  if (!write_all(file->fd, buf, nbytes)) return -1;
  file->data_bytes += nbytes;
  return static_cast<int>(nbytes);
}

int recv_hole(virStreamPtr, long long length, void* opaque) {
  int fd = static_cast<LocalFile*>(opaque)->fd;
  off_t end = lseek(fd, length, SEEK_CUR);
  // Extend now, so a hole at the very end still gives the file its full size.
  return end < 0 || ftruncate(fd, end) < 0 ? -1 : 0;
}

struct FileIdentity {
  std::uint64_t size = 0, inode = 0, device = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

Result<FileIdentity> identify(const fs::path& file) {
  struct stat st {};
  if (stat(file.c_str(), &st) != 0)
    return make_error(ErrorKind::Usage, "{}: {}", file.string(), std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return make_error(ErrorKind::Usage, "{}: not a regular file", file.string());
  return FileIdentity{static_cast<std::uint64_t>(st.st_size), st.st_ino, st.st_dev,
                      st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec};
}

}  // namespace

Result<std::string> cached_content_hash(const fs::path& file) {
  auto before = identify(file);
  if (!before) return before.error();
  std::error_code ec;
  fs::path canonical = fs::canonical(file, ec);
  if (ec) canonical = file;
  std::string key = Sha256()
                        .field(canonical.string())
                        .field(std::to_string(before->size))
                        .field(std::to_string(before->mtime_ns))
                        .field(std::to_string(before->inode))
                        .field(std::to_string(before->device))
                        .hex();
  auto dir = cache_subdir("content-hashes");
  if (dir) {
    auto cached = read_file(*dir / key);
    if (cached && cached->size() == 64) return *cached;
  }
  auto hash = sha256_file(file);
  if (!hash) return hash.error();
  // Written only when the file did not change while it was read, so the key stays true.
  auto after = identify(file);
  if (dir && after && *after == *before) (void)write_file_atomic(*dir / key, *hash);
  return hash;
}

// ---- ScratchVolume

ScratchVolume::ScratchVolume(ScratchVolume&& o) noexcept
    : conn_(std::exchange(o.conn_, nullptr)), vol_(std::move(o.vol_)), name_(std::move(o.name_)),
      host_path_(std::move(o.host_path_)) {}

ScratchVolume& ScratchVolume::operator=(ScratchVolume&& o) noexcept {
  if (this != &o) {
    (void)remove();
    conn_ = std::exchange(o.conn_, nullptr);
    vol_ = std::move(o.vol_);
    name_ = std::move(o.name_);
    host_path_ = std::move(o.host_path_);
  }
  return *this;
}

ScratchVolume::~ScratchVolume() { (void)remove(); }

Result<std::uint64_t> ScratchVolume::download_to(const fs::path& local) {
  if (!vol_) return make_error(ErrorKind::Infra, "scratch volume {} was already removed", name_);
  return download_volume(conn_, vol_.get(), local, name_);
}

Status ScratchVolume::remove() {
  if (!vol_) return {};
  lv::Vol vol = std::move(vol_);
  if (virStorageVolDelete(vol.get(), 0) < 0) return infra("delete scratch volume " + name_);
  return {};
}

// ---- VolumeStore

VolumeStore::VolumeStore(VolumeStore&&) noexcept = default;
VolumeStore& VolumeStore::operator=(VolumeStore&&) noexcept = default;
VolumeStore::~VolumeStore() = default;

Result<VolumeStore> VolumeStore::open(virConnectPtr conn, VolumeStoreOptions options) {
  VolumeStore store;
  store.conn_ = conn;
  const std::string& name = options.pool_name;
  if (!xml_safe(name) || !xml_safe(options.pool_dir))
    return make_error(ErrorKind::Usage, "storage pool name and directory must not be empty nor hold <>&'\": {} {}", name,
                      options.pool_dir);
  // Another faultbox may define, build or start the same pool between any two of our calls:
  // each step that fails is judged by looking again, and a few rounds settle any race.
  for (int round = 0; round < 5 && !store.pool_; ++round) {
    lv::Pool pool(virStoragePoolLookupByName(conn, name.c_str()));
    if (!pool) {
      std::string xml = "<pool type='dir'><name>" + name + "</name><target><path>" + options.pool_dir +
                        "</path></target></pool>";
      pool.reset(virStoragePoolDefineXML(conn, xml.c_str(), 0));
      if (!pool) continue;  // defined by someone else meanwhile, or a real failure: look again
      virStoragePoolSetAutostart(pool.get(), 0);
    }
    if (virStoragePoolIsActive(pool.get()) != 1) {
      // Build makes the directory (an existing one is fine); start fails if another process
      // started the pool first, which is what we wanted anyway.
      virStoragePoolBuild(pool.get(), 0);
      if (virStoragePoolCreate(pool.get(), 0) < 0 && virStoragePoolIsActive(pool.get()) != 1) {
        if (round == 4) return infra("start storage pool " + name);
        continue;
      }
    }
    store.pool_ = std::move(pool);
  }
  if (!store.pool_) return infra("define storage pool " + name + " at " + options.pool_dir);

  char* xml = virStoragePoolGetXMLDesc(store.pool_.get(), 0);
  if (!xml) return infra("describe storage pool " + name);
  std::string desc = xml;
  free(xml);
  auto open_tag = desc.find("<path>"), close_tag = desc.find("</path>");
  if (desc.find("type='dir'") == std::string::npos || open_tag == std::string::npos || close_tag == std::string::npos)
    return make_error(ErrorKind::Infra, "storage pool {0} on the libvirt host is not a directory pool: faultbox needs its own (virsh pool-destroy {0}; virsh pool-undefine {0})", name);
  store.pool_dir_ = desc.substr(open_tag + 6, close_tag - open_tag - 6);
  store.options_ = std::move(options);
  return store;
}

Result<lv::Vol> VolumeStore::create_volume(const std::string& name, std::uint64_t capacity) {
  std::string xml = "<volume><name>" + name + "</name><capacity unit='bytes'>" + std::to_string(capacity) +
                    "</capacity><allocation unit='bytes'>0</allocation><target><format type='raw'/>"
                    "<permissions><mode>0644</mode></permissions></target></volume>";
  lv::Vol vol(virStorageVolCreateXML(pool_.get(), xml.c_str(), 0));
  if (!vol) return infra("create volume " + name + " in pool " + options_.pool_name);
  return vol;
}

Status VolumeStore::upload(virStorageVolPtr vol, const fs::path& local, const std::string& name) {
  Fd fd(::open(local.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return make_error(ErrorKind::Infra, "open {}: {}", local.string(), std::strerror(errno));
  struct stat st {};
  fstat(fd.get(), &st);
  lv::Stream stream(virStreamNew(conn_, 0));
  if (!stream) return infra("new stream for upload to " + name);
  if (virStorageVolUpload(vol, stream.get(), 0, static_cast<unsigned long long>(st.st_size),
                          VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM) < 0)
    return infra("upload to volume " + name);
  LocalFile file{fd.get(), 0, &options_.on_upload_progress};
  if (virStreamSparseSendAll(stream.get(), send_data, send_hole_query, send_skip, &file) < 0)
    return infra("upload " + local.string() + " to volume " + name);
  if (virStreamFinish(stream.get()) < 0) return infra("finish upload to volume " + name);
  counters_.uploads++;
  counters_.upload_bytes += file.data_bytes;
  auto capacity = volume_bytes(vol, name);
  if (!capacity) return capacity.error();
  if (*capacity != static_cast<std::uint64_t>(st.st_size))
    return make_error(ErrorKind::Infra, "volume {} holds {} bytes after the upload of {} ({} bytes)", name, *capacity,
                      local.string(), st.st_size);
  return {};
}

Result<std::uint64_t> download_volume(virConnectPtr conn, virStorageVolPtr vol, const fs::path& local, const std::string& name) {
  fs::path partial = local;
  partial += ".partial-" + std::to_string(getpid());
  Fd fd(::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return make_error(ErrorKind::Infra, "create {}: {}", partial.string(), std::strerror(errno));
  auto fail = [&](Error e) -> Result<std::uint64_t> {
    std::error_code ec;
    fs::remove(partial, ec);
    return e;
  };
  lv::Stream stream(virStreamNew(conn, 0));
  if (!stream) return fail(infra("new stream for download of " + name));
  if (virStorageVolDownload(vol, stream.get(), 0, 0, VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM) < 0)
    return fail(infra("download volume " + name));
  LocalFile file{fd.get()};
  if (virStreamSparseRecvAll(stream.get(), recv_data, recv_hole, &file) < 0)
    return fail(infra("download volume " + name + " to " + local.string()));
  if (virStreamFinish(stream.get()) < 0) return fail(infra("finish download of volume " + name));
  off_t end = lseek(fd.get(), 0, SEEK_CUR);
  if (end < 0 || ftruncate(fd.get(), end) < 0 || fsync(fd.get()) < 0)
    return fail(make_error(ErrorKind::Infra, "write {}: {}", partial.string(), std::strerror(errno)));
  auto capacity = volume_bytes(vol, name);
  if (!capacity) return fail(capacity.error());
  if (static_cast<std::uint64_t>(end) != *capacity)
    return fail(make_error(ErrorKind::Infra, "download of volume {} gave {} bytes, the volume has {}", name, end, *capacity));
  fd.reset();
  std::error_code ec;
  fs::rename(partial, local, ec);
  if (ec) return fail(make_error(ErrorKind::Infra, "rename {} to {}: {}", partial.string(), local.string(), ec.message()));
  return file.data_bytes;
}

Result<std::string> VolumeStore::ensure_input(const fs::path& local) {
  auto identity = identify(local);
  if (!identity) return identity.error();
  auto hash = cached_content_hash(local);
  if (!hash) return hash.error();
  const std::string prefix = std::string(kInputPrefix) + *hash + "_";
  const LibvirtOwner& me = LibvirtOwner::self();
  const std::string mine = prefix + me.tag() + ".img";
  auto deadline = std::chrono::steady_clock::now() + options_.wait_for_other_upload;

  for (;;) {
    auto names = volume_names(pool_.get());
    if (!names) return names.error();
    std::set<std::string> present(names->begin(), names->end());
    // 1. A finished copy: its marker says so.
    for (const auto& name : *names) {
      if (!starts_with(name, prefix) || !ends_with(name, ".done")) continue;
      std::string data = name.substr(0, name.size() - 5) + ".img";
      if (!present.count(data)) continue;  // deleted by hand; the marker alone means nothing
      lv::Vol vol(virStorageVolLookupByName(pool_.get(), data.c_str()));
      if (!vol) continue;
      auto capacity = volume_bytes(vol.get(), data);
      if (!capacity || *capacity != identity->size) continue;
      return volume_path(vol.get(), data);
    }
    // 2. Uploads without a marker: running (wait for them) or left by a dead faultbox (delete).
    bool someone_uploading = false;
    for (const auto& name : *names) {
      if (!starts_with(name, prefix) || !ends_with(name, ".img") || present.count(name.substr(0, name.size() - 4) + ".done"))
        continue;
      auto owner = owner_of(name);
      if (owner && owner->gone() && delete_volume(pool_.get(), name)) continue;
      someone_uploading = true;  // or a dead one's the daemon would not delete yet: look again soon
    }
    if (someone_uploading) {
      if (std::chrono::steady_clock::now() > deadline)
        return make_error(ErrorKind::Infra,
                          "another faultbox has been uploading {} to pool {} for more than {} s (if it is dead on "
                          "another host: virsh vol-delete --pool {} {}*.img)",
                          local.string(), options_.pool_name, options_.wait_for_other_upload.count(), options_.pool_name, prefix);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    // 3. Nobody has it: upload it ourselves.
    auto vol = create_volume(mine, identity->size);
    if (!vol) {
      // Another thread of this process (same owner tag) got there first: wait for it.
      if (lv::Vol(virStorageVolLookupByName(pool_.get(), mine.c_str()))) continue;
      return vol.error();
    }
    auto uploaded = upload(vol->get(), local, mine);
    if (uploaded) {
      auto now = identify(local);
      if (!now || !(*now == *identity))
        uploaded = make_error(ErrorKind::Infra, "{} changed while it was uploaded", local.string());
    }
    if (!uploaded) {
      virStorageVolDelete(vol->get(), 0);
      return uploaded.error();
    }
    auto marker = create_volume(prefix + me.tag() + ".done", 0);
    if (!marker) {
      virStorageVolDelete(vol->get(), 0);
      return marker.error();
    }
    return volume_path(vol->get(), mine);
  }
}

Result<ScratchVolume> VolumeStore::upload_scratch(const fs::path& local, const std::string& label) {
  auto identity = identify(local);
  if (!identity) return identity.error();
  std::string name = std::string(kScratchPrefix) + std::to_string(++scratch_serial_) + "-" + volume_label(label) + "_" +
                     LibvirtOwner::self().tag() + ".img";
  auto vol = create_volume(name, identity->size);
  if (!vol) return vol.error();
  ScratchVolume scratch;
  scratch.conn_ = conn_;
  scratch.vol_ = std::move(*vol);
  scratch.name_ = name;
  FB_TRY(upload(scratch.vol_.get(), local, name));  // on failure `scratch` deletes the volume
  auto path = volume_path(scratch.vol_.get(), name);
  if (!path) return path.error();
  scratch.host_path_ = *path;
  return scratch;
}

Result<int> VolumeStore::remove_orphans() {
  auto names = volume_names(pool_.get());
  if (!names) return names.error();
  std::set<std::string> present(names->begin(), names->end());
  int removed = 0;
  for (const auto& name : *names) {
    bool scratch = starts_with(name, kScratchPrefix);
    bool unfinished_input = starts_with(name, kInputPrefix) && ends_with(name, ".img") &&
                            !present.count(name.substr(0, name.size() - 4) + ".done");
    if (!scratch && !unfinished_input) continue;
    auto owner = owner_of(name);
    if (!owner || !owner->gone()) continue;
    if (delete_volume(pool_.get(), name)) ++removed;
  }
  return removed;
}

// ---- PoolDomainFiles

namespace {

struct Backing {
  std::string file, format;
};

// The backing file a qcow2 image names (a path of this host), nullopt for a standalone image.
Result<std::optional<Backing>> backing_of(const fs::path& image) {
  auto r = run_capture({"qemu-img", "info", "-U", "--output=json", image.string()});
  if (!r) return r.error();
  if (r->status.shell_code() != 0) return make_error(ErrorKind::Infra, "qemu-img info {}: {}", image.string(), r->output);
  auto info = nlohmann::json::parse(r->output, nullptr, false);
  if (info.is_discarded()) return make_error(ErrorKind::Infra, "qemu-img info {}: not JSON", image.string());
  std::string file = info.value("full-backing-filename", info.value("backing-filename", ""));
  if (file.empty()) return std::optional<Backing>();
  return std::optional<Backing>(Backing{file, info.value("backing-filename-format", "raw")});
}

// Points a qcow2 image at another backing file without touching its data (qemu-img rebase -u
// neither opens nor needs the new backing: it may be a path of the libvirt host).
Status rebase_unsafe(const fs::path& image, const Backing& to) {
  auto r = run_capture({"qemu-img", "rebase", "-u", "-f", "qcow2", "-F", to.format, "-b", to.file, image.string()}, true);
  if (!r) return r.error();
  if (r->status.shell_code() != 0) return make_error(ErrorKind::Infra, "qemu-img rebase {} onto {}: {}", image.string(), to.file, r->output);
  return {};
}

}  // namespace

Result<std::string> PoolDomainFiles::stage_writable(const fs::path& local) {
  auto backing = backing_of(local);
  if (!backing) return backing.error();
  Staged staged;
  fs::path upload = local;
  std::optional<TempDir> copy_dir;
  if (*backing) {
    // One level only: the bases faultbox makes (disk images, the root's ext4 image) are standalone.
    auto deeper = backing_of((*backing)->file);
    if (!deeper) return deeper.error();
    if (*deeper)
      return make_error(ErrorKind::Infra, "{}: its backing file {} has a backing file of its own; a remote libvirt host takes one level",
                        local.string(), (*backing)->file);
    auto base_on_host = store_.ensure_input((*backing)->file);
    if (!base_on_host) return base_on_host.error();
    // The overlay's copy that names the host's base; the local overlay keeps naming the local one.
    auto dir = TempDir::create(local.parent_path(), "upload-", /*janitor=*/false);
    if (!dir) return dir.error();
    copy_dir = std::move(*dir);
    upload = copy_dir->path() / local.filename();
    std::error_code ec;
    fs::copy_file(local, upload, ec);
    if (ec) return make_error(ErrorKind::Infra, "copy {}: {}", local.string(), ec.message());
    FB_TRY(rebase_unsafe(upload, Backing{*base_on_host, (*backing)->format}));
    staged.local_backing = (*backing)->file;
    staged.backing_format = (*backing)->format;
  }
  auto scratch = store_.upload_scratch(upload, local.filename().string());
  if (!scratch) return scratch.error();
  std::string path = scratch->host_path();
  staged.volume = std::move(*scratch);
  scratch_.push_back(std::move(staged));
  return path;
}

Status PoolDomainFiles::fetch_writable(const std::string& staged, const fs::path& local) {
  auto it = std::find_if(scratch_.begin(), scratch_.end(),
                         [&](const Staged& s) { return s.volume.host_path() == staged; });
  if (it == scratch_.end()) return make_error(ErrorKind::Infra, "no scratch volume staged at {}", staged);
  auto got = it->volume.download_to(local);
  if (!got) return got.error();
  // It came back naming the host's base: the local inspection reads the local one.
  if (!it->local_backing.empty()) FB_TRY(rebase_unsafe(local, Backing{it->local_backing, it->backing_format}));
  auto removed = it->volume.remove();
  scratch_.erase(it);
  return removed;
}

}  // namespace fb
