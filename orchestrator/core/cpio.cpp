#include "orchestrator/core/cpio.h"

#include <fmt/format.h>

#include <sys/stat.h>

namespace fb {

namespace {

constexpr std::size_t kHeaderBytes = 110;

std::size_t pad4(std::size_t n) { return (4 - (n % 4)) % 4; }

}  // namespace

void CpioWriter::ensure_parents(const std::string& path) {
  for (std::size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    std::string dir = path.substr(0, slash);
    if (!dir.empty() && !names_.count(dir)) entry(dir, S_IFDIR | 0755, {});
  }
}

void CpioWriter::entry(const std::string& path, std::uint32_t mode, std::string_view data, std::uint32_t rmajor,
                       std::uint32_t rminor) {
  names_.insert(path);
  out_ += fmt::format("070701{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
                      next_ino_++, mode, 0, 0, (mode & S_IFMT) == S_IFDIR ? 2 : 1, 0, data.size(), 0, 0, rmajor,
                      rminor, path.size() + 1, 0);
  out_ += path;
  out_.push_back('\0');
  out_.append(pad4(kHeaderBytes + path.size() + 1), '\0');
  out_.append(data);
  out_.append(pad4(data.size()), '\0');
}

void CpioWriter::add_dir(const std::string& path, std::uint32_t mode) {
  ensure_parents(path);
  if (!names_.count(path)) entry(path, S_IFDIR | mode, {});
}

void CpioWriter::add_file(const std::string& path, std::string_view data, std::uint32_t mode) {
  ensure_parents(path);
  entry(path, S_IFREG | mode, data);
}

void CpioWriter::add_symlink(const std::string& path, const std::string& target) {
  ensure_parents(path);
  entry(path, S_IFLNK | 0777, target);
}

void CpioWriter::add_char_device(const std::string& path, std::uint32_t major, std::uint32_t minor,
                                 std::uint32_t mode) {
  ensure_parents(path);
  entry(path, S_IFCHR | mode, {}, major, minor);
}

std::string CpioWriter::finish() {
  entry("TRAILER!!!", 0, {});
  std::string out = std::move(out_);
  out_.clear();
  names_.clear();
  return out;
}

Result<CpioSummary> validate_cpio(std::string_view a, const std::string& name) {
  CpioSummary s;
  auto starts = [&](std::string_view magic) { return a.substr(0, magic.size()) == magic; };
  if (starts("\x1f\x8b") || starts("\xfd" "7zXZ") || starts("\x02\x21\x4c\x18") || starts("\x28\xb5\x2f\xfd") ||
      starts("BZh") || starts("\x5d\x00\x00")) {
    s.compressed = true;
    return s;
  }
  std::size_t pos = 0;
  for (;;) {
    if (pos + kHeaderBytes > a.size())
      return make_error(ErrorKind::Boot, "{}: corrupt initramfs: truncated header at byte {} (entry {})", name, pos,
                        s.entries + 1);
    std::string_view h = a.substr(pos, kHeaderBytes);
    if (h.substr(0, 6) != "070701" && h.substr(0, 6) != "070702")
      return make_error(ErrorKind::Boot, "{}: corrupt initramfs: bad cpio magic '{}' at byte {} (entry {})", name,
                        std::string(h.substr(0, 6)), pos, s.entries + 1);
    std::uint64_t field[13];
    for (int i = 0; i < 13; ++i) {
      std::string_view hex = h.substr(6 + 8 * static_cast<std::size_t>(i), 8);
      std::uint64_t v = 0;
      for (char c : hex) {
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0)
          return make_error(ErrorKind::Boot, "{}: corrupt initramfs: non-hex header field at byte {}", name,
                            pos + 6 + 8 * static_cast<std::size_t>(i));
        v = v * 16 + static_cast<std::uint64_t>(d);
      }
      field[i] = v;
    }
    std::uint64_t filesize = field[6], namesize = field[11];
    std::size_t name_at = pos + kHeaderBytes;
    if (namesize == 0 || name_at + namesize > a.size())
      return make_error(ErrorKind::Boot, "{}: corrupt initramfs: entry {} name runs past the end", name, s.entries + 1);
    std::string_view ename = a.substr(name_at, namesize - 1);
    std::size_t data_at = name_at + namesize + pad4(kHeaderBytes + namesize);
    if (data_at + filesize > a.size())
      return make_error(ErrorKind::Boot, "{}: corrupt initramfs: '{}' wants {} bytes, archive ends first", name,
                        std::string(ename), filesize);
    pos = data_at + filesize + pad4(filesize);
    if (ename == "TRAILER!!!") break;
    ++s.entries;
  }
  return s;
}

}  // namespace fb
