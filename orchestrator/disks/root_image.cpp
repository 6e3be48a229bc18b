#include "orchestrator/disks/root_image.h"

#include "common/clock.h"
#include "common/temp_dir.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/log.h"
#include "orchestrator/core/tar.h"
#include "orchestrator/disks/guestfs_handle.h"
#include "protocol/protocol.h"

#include <guestfs.h>

#include <chrono>
#include <fstream>

namespace fb {

namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kMiB = 1 << 20;
// Bump when the root's layout or filesystem options change.
constexpr const char* kRootVersion = "faultbox-root-1";

std::uint64_t round_mib(std::uint64_t b) { return (b + kMiB - 1) / kMiB * kMiB; }

Status write_tar(const ImageContent& c, const fs::path& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return make_error(ErrorKind::Infra, "cannot create {}", path.string());
  TarWriter w(out);
  for (auto& e : c.entries) {
    switch (e.kind) {
      case ImageEntry::Kind::Dir: FB_TRY(w.add_dir(e.path, e.mode)); break;
      case ImageEntry::Kind::File: FB_TRY(w.add_file(e.path, e.data, e.mode)); break;
      case ImageEntry::Kind::Symlink: FB_TRY(w.add_symlink(e.path, e.data)); break;
      case ImageEntry::Kind::CharDevice: FB_TRY(w.add_char_device(e.path, e.major, e.minor, e.mode)); break;
    }
  }
  return w.finish();
}

// mkfs.ext4 on the whole disk (root=/dev/vda, no partition table to find) and the archive
// unpacked into it by the appliance's tar, as root: owners, modes and device nodes as written.
Status build_root(const fs::path& tar, const fs::path& image, std::uint64_t size_bytes) {
  auto g = GuestfsHandle::create();
  if (!g) return g.error();
  if (guestfs_disk_create(g->get(), image.c_str(), "raw", static_cast<std::int64_t>(size_bytes), -1) != 0)
    return g->error(ErrorKind::Infra, "creating " + image.string());
  FB_TRY(g->add_drive(image, "raw", false));
  FB_TRY(g->launch("make the root filesystem"));
  const char* dev = "/dev/sda";
  if (guestfs_mkfs(g->get(), "ext4", dev) != 0) return g->error(ErrorKind::Infra, "making ext4 on the root disk");
  if (guestfs_set_label(g->get(), dev, proto::kRootDiskSerial) != 0) return g->error(ErrorKind::Infra, "labelling the root disk");
  if (guestfs_mount(g->get(), dev, "/") != 0) return g->error(ErrorKind::Infra, "mounting the root disk");
  if (guestfs_tar_in(g->get(), tar.c_str(), "/") != 0) return g->error(ErrorKind::Infra, "unpacking the root's files");
  if (guestfs_umount_all(g->get()) != 0) return g->error(ErrorKind::Infra, "unmounting the root disk");
  return g->shutdown();
}

}  // namespace

std::uint64_t default_root_size(std::size_t content_bytes) {
  return std::max<std::uint64_t>(256 * kMiB, round_mib(2 * static_cast<std::uint64_t>(content_bytes) + 64 * kMiB));
}

std::uint64_t min_root_size(std::size_t content_bytes) {
  // ext4 on a small disk: a 4-16 MiB journal, inode tables, reserved blocks (5%), block slack.
  return round_mib(static_cast<std::uint64_t>(content_bytes) * 110 / 100 + 32 * kMiB);
}

Result<RootImage> prepare_root_image(const ImageBuildOptions& opts, std::uint64_t size_bytes,
                                     const std::string& size_origin) {
  auto t0 = std::chrono::steady_clock::now();
  auto content = collect_image_content(opts);
  if (!content) return content.error();
  RootImage out;
  out.content_bytes = content->file_bytes;
  out.size_bytes = size_bytes ? round_mib(size_bytes) : default_root_size(content->file_bytes);
  if (out.size_bytes < min_root_size(content->file_bytes))
    return make_error(ErrorKind::Usage, "{} {} MiB is too small for the root's {:.1f} MiB of files: at least {} MiB",
                      size_origin, out.size_bytes / kMiB, static_cast<double>(content->file_bytes) / kMiB,
                      min_root_size(content->file_bytes) / kMiB);
  std::string key = Sha256().field(kRootVersion).field(content->hash).field(std::to_string(out.size_bytes)).hex().substr(0, 24);
  auto dir = cache_subdir("roots");
  if (!dir) return dir.error();
  fs::path cached = *dir / (key + ".raw");
  std::error_code ec;
  // Another faultbox process making the same root goes first; this one then reuses it.
  auto lock = lock_cache_entry(cached, "root");
  if (!lock) return lock.error();
  if (fs::is_regular_file(cached, ec)) {
    out.image = cached;
    out.reused = true;
    out.seconds = seconds_since(t0);
    progress("root: disk image reused in {:.2f} s ({})", out.seconds, cached.string());
    return out;
  }
  // Built beside its final place and renamed when complete; the janitor removes the temp dir
  // (archive and half-made image) even if faultbox is killed meanwhile.
  auto tmp = TempDir::create(*dir, ".partial-", /*janitor=*/true);
  if (!tmp) return tmp.error();
  fs::path tar = tmp->path() / "root.tar";
  fs::path building = tmp->path() / "root.raw";
  FB_TRY(write_tar(*content, tar));
  FB_TRY(build_root(tar, building, out.size_bytes));
  fs::rename(building, cached, ec);
  if (ec) return make_error(ErrorKind::Infra, "cannot move {} to {}: {}", building.string(), cached.string(), ec.message());
  out.image = cached;
  out.seconds = seconds_since(t0);
  progress("root: disk image made in {:.1f} s ({} entries, {:.1f} MiB of files, {} MiB ext4), cached as {}", out.seconds,
           content->entries.size(), static_cast<double>(content->file_bytes) / kMiB, out.size_bytes / kMiB,
           cached.string());
  return out;
}

}  // namespace fb
