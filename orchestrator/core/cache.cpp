#include "orchestrator/core/cache.h"

#include "common/interrupt.h"

#include "common/files.h"
#include "orchestrator/core/log.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <pwd.h>
#include <unistd.h>

namespace fb {

namespace fs = std::filesystem;

static fs::path g_cache_root;

fs::path cache_root() {
  if (!g_cache_root.empty()) return g_cache_root;
  if (const char* d = getenv("FAULTBOX_CACHE_DIR"); d && *d) return d;
  if (const char* x = getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "faultbox";
  const char* home = getenv("HOME");
  if (!home || !*home) {
    if (passwd* pw = getpwuid(getuid())) home = pw->pw_dir;
  }
  return fs::path(home ? home : "/tmp") / ".cache" / "faultbox";
}

void set_cache_root(const fs::path& p) { g_cache_root = p; }

Result<fs::path> cache_subdir(const std::string& name) {
  fs::path p = cache_root() / name;
  std::error_code ec;
  fs::create_directories(p, ec);
  if (ec) return make_error(ErrorKind::Infra, "cannot create cache directory {}: {}", p.string(), ec.message());
  return p;
}

Result<Fd> lock_cache_entry(const fs::path& entry, std::string_view what) {
  fs::path path = entry.string() + ".lock";
  Fd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) return make_error(ErrorKind::Infra, "cannot open the cache lock {}: {}", path.string(), strerror(errno));
  if (flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return fd;
  if (errno != EWOULDBLOCK) return make_error(ErrorKind::Infra, "flock {}: {}", path.string(), strerror(errno));
  progress("{}: waiting for another faultbox process making {}", what, entry.string());
  // Polled rather than a blocking flock: a signal may land on another thread (explore's workers),
  // and the other process may hold the lock for a whole kernel build. Ctrl-C must end the wait.
  while (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR)
      return make_error(ErrorKind::Infra, "flock {}: {}", path.string(), strerror(errno));
    if (interrupted())
      return make_error(ErrorKind::Infra, "interrupted while waiting for another faultbox process making {}", entry.string());
    usleep(100 * 1000);
  }
  return fd;
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr); }
Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

Sha256& Sha256::update(std::string_view data) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
  return *this;
}

Sha256& Sha256::field(std::string_view data) {
  std::string len = std::to_string(data.size()) + ":";
  update(len);
  return update(data);
}

std::string Sha256::hex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &n);
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out.push_back(digits[md[i] >> 4]);
    out.push_back(digits[md[i] & 15]);
  }
  return out;
}

std::string sha256_hex(std::string_view data) { return Sha256().update(data).hex(); }

Result<std::string> sha256_file(const fs::path& path) {
  auto data = read_file(path);
  if (!data) return data.error();
  return sha256_hex(*data);
}

}  // namespace fb
