#pragma once
// Builds the boot image: an uncompressed cpio initramfs with faultbox-agent as /init,
// busybox-static with all its applets, and any host binaries asked for with their
// shared-library closure. Cached by content hash. The same content, as collected here, is what
// the disk root (orchestrator/disks/root_image.h) writes into an ext4 filesystem.
#include "common/result.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace fb {

struct ImageBuildOptions {
  std::filesystem::path agent;    // default: agent_binary() (install_paths.h)
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

// One file-system object of the image. Paths have no leading slash ("bin/sh").
struct ImageEntry {
  enum class Kind { Dir, File, Symlink, CharDevice };
  Kind kind = Kind::File;
  std::string path;
  std::uint32_t mode = 0644;  // permission bits
  std::string data;           // a file's bytes, a symlink's target
  std::uint32_t major = 0, minor = 0;
};

// Everything the image holds, in the order it is written (parents before children).
struct ImageContent {
  std::string hash;  // of every input's bytes: a rebuilt agent or upgraded library changes it
  std::vector<ImageEntry> entries;
  std::size_t file_bytes = 0;  // sum of the regular files' sizes
  std::size_t applets = 0;
  std::vector<std::string> included;  // "/path" of every --include file and library
  std::filesystem::path agent, busybox;
};

Result<ImageContent> collect_image_content(const ImageBuildOptions& opts);
Result<BootImage> build_image(const ImageBuildOptions& opts);
// Validates a user-given or cached image before it is booted.
Status check_boot_image(const std::filesystem::path& path);

// The host files a binary needs in the guest: itself, its ELF interpreter and shared libraries.
Result<std::vector<std::filesystem::path>> library_closure(const std::filesystem::path& binary);

}  // namespace fb
