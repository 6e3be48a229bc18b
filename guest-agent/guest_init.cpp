#include "guest-agent/guest_init.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace fb::agent {

namespace {

void mount_one(const char* source, const char* target, const char* type, unsigned long flags, const char* data) {
  mkdir(target, 0755);
  if (mount(source, target, type, flags, data) != 0 && errno != EBUSY)
    fprintf(stderr, "faultbox-agent: mount %s on %s: %s\n", type, target, strerror(errno));
}

// A fresh tmpfs on /tmp would hide what the image put there (files included from the host's
// /tmp), so it is filled beside /tmp with a copy first and then moved over it. The originals
// stay beneath: small, and still reachable if the move fails.
void mount_tmp_over_image_tmp(const char* staging) {
  namespace fs = std::filesystem;
  mkdir("/tmp", 01777);
  mkdir(staging, 0700);
  if (mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) {
    fprintf(stderr, "faultbox-agent: mount tmpfs on %s: %s\n", staging, strerror(errno));
    return;
  }
  std::error_code ec;
  for (auto& entry : fs::directory_iterator("/tmp", ec)) {
    std::error_code copy_ec;
    fs::copy(entry.path(), fs::path(staging) / entry.path().filename(),
             fs::copy_options::recursive | fs::copy_options::copy_symlinks, copy_ec);
    if (copy_ec)
      fprintf(stderr, "faultbox-agent: copy %s into the /tmp tmpfs: %s\n", entry.path().c_str(), copy_ec.message().c_str());
  }
  if (mount(staging, "/tmp", nullptr, MS_MOVE, nullptr) != 0) {
    fprintf(stderr, "faultbox-agent: move the tmpfs from %s to /tmp: %s\n", staging, strerror(errno));
    umount2(staging, MNT_DETACH);
  }
  rmdir(staging);
}

}  // namespace

void mount_guest_filesystems() {
  constexpr unsigned long kNoSuid = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  mount_one("proc", "/proc", "proc", kNoSuid, nullptr);
  mount_one("sysfs", "/sys", "sysfs", kNoSuid, nullptr);
  mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  mount_one("debugfs", "/sys/kernel/debug", "debugfs", kNoSuid, nullptr);
  mount_one("tracefs", "/sys/kernel/tracing", "tracefs", kNoSuid, nullptr);
  mount_one("configfs", "/sys/kernel/config", "configfs", kNoSuid, nullptr);
  mount_one("cgroup2", "/sys/fs/cgroup", "cgroup2", kNoSuid, nullptr);
  mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  mount_tmp_over_image_tmp("/run/faultbox-tmp");
  mkdir("/dev/pts", 0755);
  mount_one("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666");
  // Fresh /dev (devtmpfs) has console and null, but the kernel opened our stdio on the
  // initramfs's /dev/console before the mount; that stays valid.
  sethostname("faultbox", 8);
}

std::string read_kernel_cmdline() {
  std::ifstream f("/proc/cmdline");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool cmdline_has(const std::string& cmdline, const std::string& word) {
  std::istringstream ss(cmdline);
  std::string w;
  while (ss >> w)
    if (w == word) return true;
  return false;
}

Result<Fd> open_virtio_port(const std::string& name, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (DIR* d = opendir("/sys/class/virtio-ports")) {
      while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream nf(std::string("/sys/class/virtio-ports/") + e->d_name + "/name");
        std::string port_name;
        std::getline(nf, port_name);
        if (port_name != name) continue;
        std::string dev = std::string("/dev/") + e->d_name;
        closedir(d);
        int fd = open(dev.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) return make_error(ErrorKind::Infra, "open {}: {}", dev, strerror(errno));
        return Fd(fd);
      }
      closedir(d);
    }
    if (std::chrono::steady_clock::now() > deadline)
      return make_error(ErrorKind::Infra, "virtio-serial port {} did not appear", name);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void end_vm() {
  sync();
  reboot(RB_AUTOBOOT);
  for (;;) pause();
}

}  // namespace fb::agent
