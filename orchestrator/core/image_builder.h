#pragma once
// Builds the boot image: an uncompressed cpio initramfs with faultbox-agent as /init,
// busybox-static with all its applets, and any host binaries asked for with their
// shared-library closure. Cached by content hash.
#include "common/result.h"

#include <filesystem>
#include <string>
#include <vector>

namespace fb {

struct ImageBuildOptions {
  std::filesystem::path agent;    // default: faultbox-agent beside the faultbox binary
  std::filesystem::path busybox;  // default: /bin/busybox (busybox-static)
  std::vector<std::filesystem::path> includes;
  bool force = false;
};

struct BootImage {
  std::filesystem::path cpio;
  std::string hash;
  std::size_t entries = 0;
  std::size_t bytes = 0;
  bool from_cache = false;
};

Result<std::filesystem::path> default_agent_path();
Result<BootImage> build_image(const ImageBuildOptions& opts);
// Validates a user-given or cached image before it is booted.
Status check_boot_image(const std::filesystem::path& path);

// The host files a binary needs in the guest: itself, its ELF interpreter and shared libraries.
Result<std::vector<std::filesystem::path>> library_closure(const std::filesystem::path& binary);

}  // namespace fb
