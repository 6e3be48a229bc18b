#include "orchestrator/disks/appliance.h"

#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/temp_dir.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/kernel_builder.h"
#include "orchestrator/core/log.h"
#include "orchestrator/core/tar.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <vector>

extern char** environ;

namespace fb {

namespace fs = std::filesystem;

namespace {

// Bump when the way the appliance is built changes, so cached ones are rebuilt.
constexpr int kApplianceFormat = 1;

// Shell builtins where they do the job: every exec costs tens of milliseconds under TCG.
constexpr std::string_view kApplianceInit = R"init(#!/bin/bash
# faultbox's libguestfs appliance init: what guestfsd needs and nothing more. libguestfs's own
# init also starts udev and scans for LVM, MD and Windows dynamic disks; faultbox's disks are plain
# filesystems, and under TCG those scans cost most of the appliance's start.
PATH=/sbin:/usr/sbin:/bin:/usr/bin
export PATH
if [ ! -d /tmp ] || [ ! -d /var/tmp ]; then
  rm -f /tmp /var/tmp
  mkdir -p /tmp /var/tmp
  chmod 1777 /tmp /var/tmp
fi
mkdir -p /proc /sys /run /sysroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
ln -s /proc/self/fd /dev/fd
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 shmfs /dev/shm
mount -t tmpfs -o nosuid,size=20%,mode=0755 tmpfs /run
mkdir -p /run/lock
[ -e /etc/mtab ] || ln -s /proc/mounts /etc/mtab
cmdline=$(</proc/cmdline)

# guestfsd numbers the disks by listing /dev/disk/by-path (udev's links) in version order; the
# SCSI address H:C:T:L of each disk sorts the same way, in the order QEMU was given the drives.
mkdir -p /dev/disk/by-path
for b in /sys/block/sd*; do
  cd -P "$b/device" && ln -s "../../${b##*/}" "/dev/disk/by-path/scsi-${PWD##*/}"
done
cd /

# The virtio-serial port libguestfs talks on, found by the name QEMU gave it.
channel=
for p in /sys/class/virtio-ports/*; do
  [ "$(<"$p/name")" = org.libguestfs.channel.0 ] && channel=/dev/${p##*/}
done
if [ -z "$channel" ]; then
  echo "faultbox appliance: no virtio-serial port named org.libguestfs.channel.0" >&2
  reboot -f
fi

cmd="guestfsd --channel $channel"
[[ $cmdline == *guestfs_verbose=1* ]] && cmd="$cmd --verbose"
echo "faultbox appliance: $cmd"
$cmd
sync
[[ $cmdline == *guestfs_noreboot=1* ]] || reboot -f
)init";

// Content hashes of a directory's regular files (symlinks followed), by name.
Status hash_dir_files(const fs::path& dir, Sha256& key) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file()) files.push_back(e.path());
  if (ec) return make_error(ErrorKind::Infra, "libguestfs appliance: cannot read {}: {}", dir.string(), ec.message());
  if (files.empty()) return make_error(ErrorKind::Infra, "libguestfs appliance: {} is empty (is libguestfs installed?)", dir.string());
  std::sort(files.begin(), files.end());
  for (auto& f : files) {
    auto h = sha256_file(f);
    if (!h) return h.error();
    key.field(f.filename().string()).field(*h);
  }
  return {};
}

// Entries of an older key, or builds a killed process left, once nobody can be using them.
void remove_stale_appliances(const fs::path& guestfs_dir, const fs::path& keep) {
  std::error_code ec;
  auto now = fs::file_time_type::clock::now();
  for (auto& e : fs::directory_iterator(guestfs_dir, ec)) {
    auto name = e.path().filename().string();
    bool ours = name.rfind("appliance-", 0) == 0 || name.rfind(".appliance-build-", 0) == 0;
    if (!ours || e.path() == keep || !e.is_directory()) continue;
    std::error_code tec;
    auto age = now - fs::last_write_time(e.path(), tec);
    // A faultbox that chose an older appliance a moment ago may still be starting it.
    if (tec || age < std::chrono::hours(1)) continue;
    fs::remove_all(e.path(), tec);
    fs::remove(e.path().string() + ".lock", tec);
  }
}

}  // namespace

std::string_view appliance_init_script() { return kApplianceInit; }

bool use_libguestfs_appliance() {
  const char* mode = getenv("FAULTBOX_GUESTFS_APPLIANCE");
  if (mode && std::string_view(mode) == "libguestfs") return true;
  const char* user_path = getenv("LIBGUESTFS_PATH");
  return user_path && *user_path;
}

Result<Appliance> faultbox_appliance(const fs::path& libguestfs_path) {
  fs::path supermin_d = libguestfs_path / "supermin.d";
  std::string supermin = find_in_path("supermin");
  if (supermin.empty()) return make_error(ErrorKind::Infra, "libguestfs appliance: supermin is not installed");

  Sha256 key;
  key.field("faultbox-guestfs-appliance").field(std::to_string(kApplianceFormat)).field(kApplianceInit);
  FB_TRY(hash_dir_files(supermin_d, key));
  auto supermin_hash = sha256_file(supermin);
  if (!supermin_hash) return supermin_hash.error();
  key.field(*supermin_hash);

  // The faultbox kernel when it is built; else the host's (supermin's choice, as libguestfs's
  // own appliance makes it), and the appliance is made again once faultbox's kernel exists.
  Appliance out;
  std::vector<std::string> supermin_env;
  auto k = find_cached_kernel({});
  if (k && *k && (*k)->damage.empty()) {
    const auto& kernel = **k;
    key.field("faultbox-kernel").field(kernel.hash);
    out.kernel = fmt::format("faultbox kernel {} ({})", kernel.release, kernel.hash);
    out.kernel_append = "scsi_debug.add_host=0 null_blk.nr_devices=0 pty.legacy_count=0 initcall_blacklist=piix_init";
    supermin_env = {"SUPERMIN_KERNEL=" + kernel.bzimage.string(), "SUPERMIN_KERNEL_VERSION=" + kernel.release};
  } else {
    std::error_code ec;
    std::vector<std::string> boot_kernels;
    for (auto& e : fs::directory_iterator("/boot", ec))
      if (e.path().filename().string().rfind("vmlinuz-", 0) == 0) boot_kernels.push_back(e.path().filename().string());
    std::sort(boot_kernels.begin(), boot_kernels.end());
    key.field("host-kernel");
    for (auto& b : boot_kernels) key.field(b);
    out.kernel = boot_kernels.empty() ? "host kernel" : "host kernel " + boot_kernels.back();
  }

  auto guestfs_dir = cache_subdir("guestfs");
  if (!guestfs_dir) return guestfs_dir.error();
  out.dir = *guestfs_dir / ("appliance-" + key.hex().substr(0, 16));
  auto ready = [&] { return fs::exists(out.dir / "README.fixed"); };
  if (ready()) return out;

  auto lock = lock_cache_entry(out.dir, "the libguestfs appliance");
  if (!lock) return lock.error();
  if (ready()) return out;

  progress("libguestfs: building faultbox's appliance with {} (once; about 15 s)", out.kernel);
  auto t0 = std::chrono::steady_clock::now();
  auto build = TempDir::create(*guestfs_dir, ".appliance-build-", /*janitor=*/false);
  if (!build) return build.error();
  const fs::path inputs = build->path() / "supermin.d";
  const fs::path built = build->path() / "appliance";
  std::error_code ec;
  fs::create_directories(inputs, ec);
  if (ec) return make_error(ErrorKind::Infra, "libguestfs appliance: cannot create {}: {}", inputs.string(), ec.message());
  // libguestfs's inputs as they are, except its init.
  for (auto& e : fs::directory_iterator(supermin_d, ec)) {
    auto name = e.path().filename().string();
    if (name.rfind("init.", 0) == 0) continue;
    fs::create_symlink(e.path(), inputs / name, ec);
    if (ec) return make_error(ErrorKind::Infra, "libguestfs appliance: cannot link {}: {}", name, ec.message());
  }
  {
    std::ostringstream tar_bytes;
    TarWriter tar(tar_bytes);
    FB_TRY(tar.add_file("init", kApplianceInit, 0755));
    FB_TRY(tar.finish());
    FB_TRY(write_file_atomic(inputs / "init.tar", tar_bytes.str()));
  }
  if (!supermin_env.empty()) {
    // Every driver is built in: the modules supermin copies come from an empty tree.
    fs::path modules = build->path() / "modules";
    fs::create_directories(modules, ec);
    FB_TRY(write_file_atomic(modules / "modules.dep", ""));  // supermin reads it
    supermin_env.push_back("SUPERMIN_MODULES=" + modules.string());
  }
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view var(*e);
    if (var.rfind("SUPERMIN_", 0) != 0) env.emplace_back(var);
  }
  env.insert(env.end(), supermin_env.begin(), supermin_env.end());

  fs::path log_path = build->path() / "supermin.log";
  Fd log(open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!log) return make_error(ErrorKind::Infra, "libguestfs appliance: cannot create {}: {}", log_path.string(), strerror(errno));
  SpawnOptions so;
  so.stdout_fd = log.get();
  so.stderr_fd = log.get();
  so.env = env;
  auto child = ChildProcess::spawn({supermin, "--build", "--format", "ext2", "--host-cpu", "x86_64", "--copy-kernel",
                                    "-o", built.string(), inputs.string()},
                                   so);
  if (!child) return child.error();
  auto status = child->wait();
  if (!status.exited_normally() || status.code != 0) {
    auto text = read_file(log_path);
    return make_error(ErrorKind::Infra, "libguestfs appliance: supermin --build {}:\n{}", status.describe(),
                      text ? *text : std::string("(no log)"));
  }
  FB_TRY(write_file_atomic(built / "README.fixed",
                           fmt::format("A libguestfs fixed appliance made by faultbox (orchestrator/disks/appliance.cpp):\n"
                                       "libguestfs's supermin inputs from {}, faultbox's /init, and {}.\n",
                                       supermin_d.string(), out.kernel)));
  fs::rename(built, out.dir, ec);
  if (ec) return make_error(ErrorKind::Infra, "libguestfs appliance: cannot publish {}: {}", out.dir.string(), ec.message());
  out.built_now = true;
  progress("libguestfs: appliance built in {:.1f} s: {}", seconds_since(t0), out.dir.string());
  remove_stale_appliances(*guestfs_dir, out.dir);
  return out;
}

}  // namespace fb
