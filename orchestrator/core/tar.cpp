#include "orchestrator/core/tar.h"

#include <fmt/format.h>

#include <array>
#include <cstring>

namespace fb {

namespace {

constexpr std::size_t kBlock = 512;

// Octal, zero-padded, NUL-terminated in a field of `width` bytes.
void octal(char* field, std::size_t width, std::uint64_t v) {
  std::string s = fmt::format("{:0{}o}", v, width - 1);
  std::memcpy(field, s.data(), width - 1);
  field[width - 1] = '\0';
}

}  // namespace

Status TarWriter::ensure_parents(const std::string& path) {
  for (std::size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    std::string dir = path.substr(0, slash);
    if (!dir.empty() && !names_.count(dir)) FB_TRY(entry(dir, '5', 0755, {}));
  }
  return {};
}

Status TarWriter::entry(const std::string& path, char type, std::uint32_t mode, std::string_view data,
                        const std::string& link, std::uint32_t major, std::uint32_t minor) {
  std::array<char, kBlock> h{};
  // The typeflag says "directory"; no trailing slash needed, so the split below stays simple.
  std::string name = path;
  std::string prefix;
  if (name.size() > 100) {
    // ustar: prefix (155) + '/' + name (100), split at a slash; the rightmost usable slash
    // leaves the shortest name, so if it does not fit nothing does.
    std::size_t cut = name.rfind('/', 155);
    if (cut == std::string::npos || cut == 0 || name.size() - cut - 1 > 100)
      return make_error(ErrorKind::Usage, "path {} is too long for a tar archive (ustar: 255 bytes)", path);
    prefix = name.substr(0, cut);
    name = name.substr(cut + 1);
  }
  if (link.size() > 100) return make_error(ErrorKind::Usage, "symlink target {} of {} is over 100 bytes", link, path);
  names_.insert(path);
  std::memcpy(h.data(), name.data(), name.size());
  octal(&h[100], 8, mode & 07777);
  octal(&h[108], 8, 0);  // uid root
  octal(&h[116], 8, 0);  // gid root
  octal(&h[124], 12, type == '0' ? data.size() : 0);
  octal(&h[136], 12, 0);  // mtime: fixed, so equal content gives an equal archive
  std::memset(&h[148], ' ', 8);
  h[156] = type;
  std::memcpy(&h[157], link.data(), link.size());
  std::memcpy(&h[257], "ustar", 6);
  std::memcpy(&h[263], "00", 2);
  std::memcpy(&h[265], "root", 4);
  std::memcpy(&h[297], "root", 4);
  octal(&h[329], 8, major);
  octal(&h[337], 8, minor);
  std::memcpy(&h[345], prefix.data(), prefix.size());
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  std::string chk = fmt::format("{:06o}", sum);
  std::memcpy(&h[148], chk.data(), 6);
  h[154] = '\0';
  h[155] = ' ';
  out_.write(h.data(), kBlock);
  if (type == '0') {
    out_.write(data.data(), static_cast<std::streamsize>(data.size()));
    static const std::array<char, kBlock> zeros{};
    if (data.size() % kBlock) out_.write(zeros.data(), static_cast<std::streamsize>(kBlock - data.size() % kBlock));
  }
  if (!out_) return make_error(ErrorKind::Infra, "writing the tar archive failed at {}", path);
  return {};
}

Status TarWriter::add_dir(const std::string& path, std::uint32_t mode) {
  FB_TRY(ensure_parents(path));
  if (names_.count(path)) return {};
  return entry(path, '5', mode, {});
}

Status TarWriter::add_file(const std::string& path, std::string_view data, std::uint32_t mode) {
  FB_TRY(ensure_parents(path));
  return entry(path, '0', mode, data);
}

Status TarWriter::add_symlink(const std::string& path, const std::string& target) {
  FB_TRY(ensure_parents(path));
  return entry(path, '2', 0777, {}, target);
}

Status TarWriter::add_char_device(const std::string& path, std::uint32_t major, std::uint32_t minor, std::uint32_t mode) {
  FB_TRY(ensure_parents(path));
  return entry(path, '3', mode, {}, {}, major, minor);
}

Status TarWriter::finish() {
  static const std::array<char, 2 * kBlock> zeros{};
  out_.write(zeros.data(), zeros.size());
  out_.flush();
  if (!out_) return make_error(ErrorKind::Infra, "writing the tar archive failed at its end");
  return {};
}

}  // namespace fb
