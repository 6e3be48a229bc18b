#pragma once
// A libguestfs handle (C API) owned by one object: closed, with its appliance shut down, on
// every path. The appliance runs under TCG always: KVM may exist here and still be unusable
// (see docs/architecture.md), and libguestfs would pick it by itself.
#include "common/result.h"
#include "common/temp_dir.h"

#include <filesystem>
#include <string>

struct guestfs_h;

namespace fb {

// faultbox's appliance gets this much memory (libguestfs's default is 1280 MiB).
inline constexpr int kApplianceMemMiB = 512;

class GuestfsHandle {
 public:
  static Result<GuestfsHandle> create();

  GuestfsHandle() = default;
  GuestfsHandle(GuestfsHandle&& o) noexcept;
  GuestfsHandle& operator=(GuestfsHandle&& o) noexcept;
  GuestfsHandle(const GuestfsHandle&) = delete;
  GuestfsHandle& operator=(const GuestfsHandle&) = delete;
  ~GuestfsHandle();

  guestfs_h* get() const { return g_; }
  // Which appliance launch() starts (faultbox's or libguestfs's own), for doctor and the log.
  const std::string& appliance() const { return appliance_; }

  Status add_drive(const std::filesystem::path& file, const std::string& format, bool read_only);
  // Starts the appliance; `what` names the job in the progress line.
  Status launch(const std::string& what);
  // Syncs and stops the appliance, reporting a failed write-back (close alone would hide it).
  Status shutdown();

  // The handle's last error as an Error of the given kind, prefixed with what was being done.
  Error error(ErrorKind kind, const std::string& doing) const;

 private:
  explicit GuestfsHandle(guestfs_h* g) : g_(g) {}
  void close();
  guestfs_h* g_ = nullptr;
  std::string appliance_;
  // libguestfs's temp dir (sockets, overlays of read-only drives): ours, with a janitor, so a
  // SIGKILLed faultbox leaves nothing of libguestfs in $TMPDIR. Declared last: removed after close.
  TempDir tmp_;
};

}  // namespace fb
