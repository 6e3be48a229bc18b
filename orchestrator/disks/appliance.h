#pragma once
// faultbox's own libguestfs appliance. libguestfs stays what makes and inspects scenario disks
// (its API, and its isolation: a disk the guest wrote is untrusted input, read only inside a VM),
// but the appliance it boots is faultbox's: a libguestfs "fixed appliance" built once by supermin
// from libguestfs's own inputs, with two changes that make its start several times faster under
// TCG (docs/benchmarks.md, "libguestfs appliance"):
//   - the kernel is faultbox's cached kernel when there is one: every driver the appliance needs
//     is built in (no module loading) and it is LZ4-compressed (Debian's XZ kernel takes seconds
//     to decompress under TCG);
//   - /init is faultbox's: it mounts what guestfsd needs, makes the two udev-made names guestfsd
//     looks for (its virtio-serial port and /dev/disk/by-path), and starts guestfsd. No udev
//     coldplug and settle, no LVM, MD or Windows dynamic-disk scans: scenario disks are plain
//     filesystems on whole disks or partitions.
// The appliance is cached under <cache>/guestfs/appliance-<key>; the key covers libguestfs's
// supermin inputs (by content), supermin itself, the /init below and the kernel.
#include "common/result.h"

#include <filesystem>
#include <string>
#include <string_view>

namespace fb {

struct Appliance {
  std::filesystem::path dir;  // kernel, initrd, root, README.fixed: what guestfs_set_path takes
  std::string kernel;         // what it boots, for doctor: "faultbox kernel 6.1.192 (75e506b3e68b3ceb)"
  // Appended to libguestfs's kernel command line (guestfs_set_append): the faultbox kernel's
  // built-in test devices stay off (scsi_debug's default 8 MiB disk and null_blk's nullb0 would
  // show up as disks the appliance was not given), and the pc machine's unused IDE is not probed.
  std::string kernel_append;
  bool built_now = false;
};

// The fixed appliance for this machine, built (under the cache lock, about 10-20 s) when it is not
// cached yet. `libguestfs_path` is libguestfs's own appliance path (guestfs_get_path of a fresh
// handle), whose supermin.d holds the package lists and the daemon.
Result<Appliance> faultbox_appliance(const std::filesystem::path& libguestfs_path);

// The /init faultbox puts in the appliance.
std::string_view appliance_init_script();

// FAULTBOX_GUESTFS_APPLIANCE=libguestfs (or a LIBGUESTFS_PATH the user set) leaves libguestfs its
// own appliance; for comparing the two and as the way out if faultbox's ever fails to boot.
bool use_libguestfs_appliance();

}  // namespace fb
