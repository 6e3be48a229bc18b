#pragma once
// A ustar writer for the disk root: libguestfs's tar_in unpacks it inside the appliance (as
// root, so owners, modes and device nodes come out as written) in one call, instead of one
// appliance round trip per file. Like CpioWriter it needs no root on the host.
#include "common/result.h"

#include <cstdint>
#include <ostream>
#include <set>
#include <string>
#include <string_view>

namespace fb {

class TarWriter {
 public:
  explicit TarWriter(std::ostream& out) : out_(out) {}
  // Paths are archive paths without a leading slash ("bin/sh"); missing parent directories are
  // added. A path ustar cannot hold (over 255 bytes, or no '/' to split it at) is an error.
  Status add_dir(const std::string& path, std::uint32_t mode = 0755);
  Status add_file(const std::string& path, std::string_view data, std::uint32_t mode = 0644);
  Status add_symlink(const std::string& path, const std::string& target);
  Status add_char_device(const std::string& path, std::uint32_t major, std::uint32_t minor, std::uint32_t mode = 0600);
  bool contains(const std::string& path) const { return names_.count(path) != 0; }
  // Writes the two zero blocks that end an archive; reports a failed stream.
  Status finish();

 private:
  Status ensure_parents(const std::string& path);
  Status entry(const std::string& path, char type, std::uint32_t mode, std::string_view data,
               const std::string& link = {}, std::uint32_t major = 0, std::uint32_t minor = 0);
  std::ostream& out_;
  std::set<std::string> names_;
};

}  // namespace fb
