#include "orchestrator/disks/guestfs_handle.h"

#include "common/clock.h"
#include "orchestrator/disks/appliance.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/log.h"

#include <guestfs.h>

#include <chrono>
#include <cstdlib>
#include <utility>

namespace fb {

Result<GuestfsHandle> GuestfsHandle::create() {
  // Made before the handle, while faultbox is still single-threaded (the janitor forks).
  auto rt = runtime_root();
  if (!rt) return rt.error();
  auto tmp = TempDir::create(*rt, "guestfs-", /*janitor=*/true);
  if (!tmp) return tmp.error();
  guestfs_h* g = guestfs_create_flags(0);
  if (!g) return make_error(ErrorKind::Infra, "libguestfs: cannot create a handle (guestfs_create_flags)");
  GuestfsHandle h(g);
  h.tmp_ = std::move(*tmp);
  // Errors come back through guestfs_last_error, not printed on stderr behind our back.
  guestfs_set_error_handler(g, nullptr, nullptr);
  char force_tcg[] = "force_tcg";
  char* const settings[] = {force_tcg, nullptr};
  if (guestfs_set_backend_settings(g, settings) != 0) return h.error(ErrorKind::Infra, "setting force_tcg");
  if (guestfs_set_tmpdir(g, h.tmp_.path().c_str()) != 0) return h.error(ErrorKind::Infra, "setting its temp dir");
  // The appliance supermin builds is reused across runs: it lives in faultbox's cache, not in
  // $TMPDIR (libguestfs's default); a LIBGUESTFS_CACHEDIR the user set wins.
  if (const char* user_cachedir = getenv("LIBGUESTFS_CACHEDIR"); !(user_cachedir && *user_cachedir)) {
    auto appliance_cache = cache_subdir("guestfs");
    if (!appliance_cache) return appliance_cache.error();
    if (guestfs_set_cachedir(g, appliance_cache->c_str()) != 0) return h.error(ErrorKind::Infra, "setting its cache dir");
  }
  h.appliance_ = "libguestfs's own appliance (supermin, the host's kernel)";
  if (!use_libguestfs_appliance()) {
    const char* own_path = guestfs_get_path(g);  // libguestfs's appliance dir, where its supermin.d is
    auto appliance = faultbox_appliance(own_path ? own_path : "");
    if (appliance) {
      if (guestfs_set_path(g, appliance->dir.c_str()) != 0) return h.error(ErrorKind::Infra, "setting the appliance path");
      // Enough for mkfs, fsck and a copy-in; a smaller guest also boots faster under TCG.
      if (guestfs_set_memsize(g, kApplianceMemMiB) != 0) return h.error(ErrorKind::Infra, "setting the appliance memory");
      if (!appliance->kernel_append.empty() && guestfs_set_append(g, appliance->kernel_append.c_str()) != 0)
        return h.error(ErrorKind::Infra, "setting the appliance's kernel command line");
      h.appliance_ = "faultbox's appliance with the " + appliance->kernel;
    } else {
      // libguestfs's own still works: slower, never worse.
      progress("libguestfs: faultbox's appliance is unavailable ({}); using libguestfs's own", appliance.error().message);
    }
  }
  return h;
}

GuestfsHandle::GuestfsHandle(GuestfsHandle&& o) noexcept
    : g_(std::exchange(o.g_, nullptr)), appliance_(std::move(o.appliance_)), tmp_(std::move(o.tmp_)) {}

GuestfsHandle& GuestfsHandle::operator=(GuestfsHandle&& o) noexcept {
  if (this != &o) {
    close();
    g_ = std::exchange(o.g_, nullptr);
    appliance_ = std::move(o.appliance_);
    tmp_ = std::move(o.tmp_);
  }
  return *this;
}

GuestfsHandle::~GuestfsHandle() { close(); }

void GuestfsHandle::close() {
  if (!g_) return;
  guestfs_close(g_);  // kills the appliance if it still runs
  g_ = nullptr;
}

Status GuestfsHandle::add_drive(const std::filesystem::path& file, const std::string& format, bool read_only) {
  if (guestfs_add_drive_opts(g_, file.c_str(), GUESTFS_ADD_DRIVE_OPTS_FORMAT, format.c_str(),
                             GUESTFS_ADD_DRIVE_OPTS_READONLY, read_only ? 1 : 0, -1) != 0)
    return error(ErrorKind::Infra, "adding " + file.string());
  return {};
}

Status GuestfsHandle::launch(const std::string& what) {
  progress("libguestfs: starting the appliance (tcg) to {}", what);
  auto t0 = std::chrono::steady_clock::now();
  if (guestfs_launch(g_) != 0) return error(ErrorKind::Infra, "starting the appliance (libguestfs-test-tool shows why)");
  debug("libguestfs: appliance up in {:.1f} s",
        seconds_since(t0));
  return {};
}

Status GuestfsHandle::shutdown() {
  if (guestfs_shutdown(g_) != 0) return error(ErrorKind::Infra, "stopping the appliance");
  return {};
}

Error GuestfsHandle::error(ErrorKind kind, const std::string& doing) const {
  const char* msg = g_ ? guestfs_last_error(g_) : nullptr;
  return Error{kind, "libguestfs: " + doing + ": " + (msg ? msg : "unknown error")};
}

}  // namespace fb
