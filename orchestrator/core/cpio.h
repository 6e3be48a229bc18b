#pragma once
// The "newc" cpio format the kernel unpacks as initramfs (Documentation/driver-api/
// early-userspace/buffer-format.rst): a writer that needs no root (device nodes are just
// header fields) and a validator that catches a corrupt or truncated archive before boot.
#include "common/result.h"

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

namespace fb {

class CpioWriter {
 public:
  // Paths are archive paths without a leading slash ("bin/sh"); missing parent
  // directories are added automatically.
  void add_dir(const std::string& path, std::uint32_t mode = 0755);
  void add_file(const std::string& path, std::string_view data, std::uint32_t mode = 0644);
  void add_symlink(const std::string& path, const std::string& target);
  void add_char_device(const std::string& path, std::uint32_t major, std::uint32_t minor, std::uint32_t mode = 0600);
  bool contains(const std::string& path) const { return names_.count(path) != 0; }
  // Appends the trailer and returns the archive.
  std::string finish();

 private:
  void ensure_parents(const std::string& path);
  void entry(const std::string& path, std::uint32_t mode, std::string_view data, std::uint32_t rmajor = 0,
             std::uint32_t rminor = 0);
  std::string out_;
  std::set<std::string> names_;
  std::uint32_t next_ino_ = 1;
};

struct CpioSummary {
  std::size_t entries = 0;
  bool compressed = false;  // gzip/xz/lz4/zstd/bzip2/lzma: left to the kernel to check
};

// Walks every header of an uncompressed newc/crc archive up to TRAILER!!!; names what is wrong
// and where.
Result<CpioSummary> validate_cpio(std::string_view archive, const std::string& name_for_errors);

}  // namespace fb
