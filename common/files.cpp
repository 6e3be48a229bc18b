#include "common/files.h"

#include "common/fd.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fb {

namespace fs = std::filesystem;

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Usage: return "usage";
    case ErrorKind::Infra: return "infra";
    case ErrorKind::Boot: return "boot";
    case ErrorKind::Protocol: return "protocol";
    case ErrorKind::Timeout: return "timeout";
  }
  return "?";
}

Result<std::string> read_file(const fs::path& path) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return make_error(ErrorKind::Usage, "{}: {}", path.string(), strerror(errno));
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(ErrorKind::Infra, "{}: read: {}", path.string(), strerror(errno));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status write_file_atomic(const fs::path& path, std::string_view data, int mode) {
  std::string tmp = path.string() + ".tmp-XXXXXX";
  Fd fd(mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) return make_error(ErrorKind::Infra, "{}: {}", tmp, strerror(errno));
  if (!write_all(fd.get(), data.data(), data.size()) || fchmod(fd.get(), static_cast<mode_t>(mode)) != 0 ||
      fsync(fd.get()) != 0) {
    int e = errno;
    unlink(tmp.c_str());
    return make_error(ErrorKind::Infra, "{}: write: {}", path.string(), strerror(e));
  }
  fd.reset();
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    unlink(tmp.c_str());
    return make_error(ErrorKind::Infra, "{}: rename: {}", path.string(), strerror(e));
  }
  return {};
}

Status copy_file_atomic(const fs::path& from, const fs::path& to) {
  auto data = read_file(from);
  if (!data) return data.error();
  struct stat st;
  int mode = stat(from.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777) : 0644;
  return write_file_atomic(to, *data, mode);
}

}  // namespace fb
