#pragma once
// Builds (or finds in the cache) a bzImage whose config has every option the kconfig
// fragments ask for. Cache key: sha256 of (builder version, source identity, base config,
// every fragment's name and text).
#include "common/result.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace fb {

struct KernelBuildOptions {
  // A source tarball (.tar.xz, .tar.gz, ...) or a kernel source directory.
  // Default: Debian's linux-source-6.1 tarball.
  std::filesystem::path source;
  // A full .config to start from; default: tinyconfig + kernel/configs/kvm_guest.config.
  std::filesystem::path base_config;
  // The fragments merged on top; default: faultbox's kconfigs/ directory.
  std::filesystem::path fragment_dir;
  std::vector<std::filesystem::path> extra_fragments;
  int jobs = 0;  // 0: number of CPUs
  bool force = false;
};

struct KernelArtifact {
  std::filesystem::path dir;
  std::filesystem::path bzimage;
  std::filesystem::path config;
  std::string hash;
  std::string release;
  bool from_cache = false;
  // Why this cache entry cannot be booted (bzImage cut or changed, meta.json unreadable); "" when sound.
  std::string damage;
};

std::filesystem::path default_kernel_source();

// Where the kernel for these options is (or would be) cached: kernels/<hash>.
Result<std::filesystem::path> cached_kernel_dir(const KernelBuildOptions& opts);
// The cached kernel for these options, if one was built; never builds. A damaged entry comes
// back with `damage` set (build_kernel rebuilds it).
Result<std::optional<KernelArtifact>> find_cached_kernel(const KernelBuildOptions& opts);
Result<KernelArtifact> build_kernel(const KernelBuildOptions& opts);
// What the user runs to repair a damaged cached kernel built with these options.
std::string kernel_rebuild_command(const KernelBuildOptions& opts);

// Checks that path is a kernel QEMU can boot with -kernel (bzImage "HdrS" or ELF), and that a
// bzImage is as long as its setup header says.
Status check_kernel_image(const std::filesystem::path& path);

// A cache entry from before meta.json recorded the bzImage's size and sha256 gets them once a
// boot has shown the kernel intact; a no-op for other kernels and for entries that have them.
void record_cached_kernel_digest(const std::filesystem::path& bzimage);

}  // namespace fb
