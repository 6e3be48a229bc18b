#pragma once
// The user's cache: $XDG_CACHE_HOME/faultbox or ~/.cache/faultbox (FAULTBOX_CACHE_DIR wins).
//   src/<id>/       extracted kernel sources
//   kbuild/<id>/    kernel build trees (incremental, shared by configs)
//   kernels/<hash>/ finished kernels: bzImage, config, build.log, meta.json, error_injection.json
//   error-injection/<sha256>.json  error-injection lists of other kernel images, from their first boot
//   images/<hash>/  boot images: initramfs.cpio, meta.json
//   disks/          prepared scenario disks (orchestrator/disks/disk_image.h)
//   roots/<hash>.raw  disk roots: the boot image's content on ext4 (orchestrator/disks/root_image.h)
//   guestfs/        appliance-<key>/: faultbox's libguestfs appliance (orchestrator/disks/appliance.h)
//   ccache/         the compiler cache used by kernel builds
//   accel/          accelerator probe verdicts
#include "common/fd.h"
#include "common/result.h"

#include <filesystem>
#include <string>
#include <string_view>

namespace fb {

std::filesystem::path cache_root();
void set_cache_root(const std::filesystem::path& p);  // --cache-dir
Result<std::filesystem::path> cache_subdir(const std::string& name);

// An exclusive flock on <entry>.lock, held while one process checks for, builds and publishes a
// cache entry (a kernel, an image, a disk): a second faultbox process wanting the same entry
// waits, saying so once (`what` names it), and then finds it published instead of building it
// again or replacing it under a VM that boots it. The lock goes with the fd (and with the
// process, however it dies); the small lock file stays.
Result<Fd> lock_cache_entry(const std::filesystem::path& entry, std::string_view what);

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256& update(std::string_view data);
  // Length-prefixed, so ("ab","c") and ("a","bc") hash differently.
  Sha256& field(std::string_view data);
  std::string hex();

 private:
  void* ctx_;
};

std::string sha256_hex(std::string_view data);
Result<std::string> sha256_file(const std::filesystem::path& path);

}  // namespace fb
