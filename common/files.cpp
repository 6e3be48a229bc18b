#include "common/files.h"

#include "common/fd.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
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

namespace {

// Reads fd to its end, or to one byte past max_bytes (so the caller can tell it was over).
Result<std::string> read_fd(int fd, const fs::path& path, std::size_t max_bytes) {
  std::string out;
  char buf[65536];
  for (;;) {
    std::size_t want = std::min(sizeof buf, max_bytes - std::min(max_bytes, out.size()) + 1);
    ssize_t n = read(fd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(ErrorKind::Infra, "{}: read: {}", path.string(), strerror(errno));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) break;
  }
  return out;
}

const char* file_type_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

Result<std::string> read_file(const fs::path& path) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return make_error(ErrorKind::Usage, "{}: {}", path.string(), strerror(errno));
  return read_fd(fd.get(), path, SIZE_MAX - 1);
}

Result<std::string> read_regular_file(const fs::path& path, std::size_t max_bytes, const char* what) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) return make_error(ErrorKind::Usage, "{}: {}", path.string(), strerror(errno));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return make_error(ErrorKind::Infra, "{}: fstat: {}", path.string(), strerror(errno));
  if (!S_ISREG(st.st_mode))
    return make_error(ErrorKind::Usage, "{}: is {}; {} must be a regular file", path.string(), file_type_name(st.st_mode),
                      what);
  auto too_big = [&](std::uint64_t bytes, const char* at_least) {
    std::string limit = max_bytes % (1 << 20) == 0 ? std::to_string(max_bytes >> 20) + " MiB"
                                                    : std::to_string(max_bytes) + " bytes";
    return make_error(ErrorKind::Usage, "{}: {}{} bytes is over the {} limit for {}", path.string(), at_least, bytes,
                      limit, what);
  };
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) return too_big(static_cast<std::uint64_t>(st.st_size), "");
  // Regular files do not block; clearing O_NONBLOCK keeps reads of slow filesystems whole.
  fcntl(fd.get(), F_SETFL, fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  auto text = read_fd(fd.get(), path, max_bytes);
  if (text && text->size() > max_bytes) return too_big(text->size(), "at least ");  // it grew while we read
  return text;
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
