#pragma once
// Builds (or finds in the cache) a bzImage whose config has every option the kconfig
// fragments ask for. Cache key: sha256 of (builder version, source identity, base config,
// every fragment's name and text). The source identity of a git tree is its HEAD commit (plus
// a hash of the changes when the tree is dirty), so a commit built once is never rebuilt.
#include "common/result.h"

#include <filesystem>
#include <functional>
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
  // The out-of-tree build dir (O=); empty: kbuild/<source id> in the cache. `bisect` keeps one
  // per tree, placed as the tarball's is relative to its source so ccache hits carry over.
  std::filesystem::path build_dir;
  // Set: `source` is (or, for a cache lookup, will be) a clean checkout of this commit, and the
  // source identity is `git:<commit>` without asking git, so the cache can be asked before
  // anything is checked out (`kernel build --tree --rev`, bisect). build_kernel refuses a
  // source that is not exactly that checkout.
  std::string git_commit;
  // Polled while make runs; true stops the build (make gets SIGINT and deletes what it was
  // writing) and build_kernel returns an error naming the interruption.
  std::function<bool()> cancelled;
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

// What identifies a kernel source in the cache key. A git work tree at its top level is
// "git:<commit>", with ":dirty:<hash of the changes>" when it has uncommitted changes; another
// directory is "dir:<path>" (never cached: it may change); a tarball is its path, size, mtime.
struct SourceIdentity {
  std::string text;
  bool is_git = false;
  std::string commit;  // git only
  bool dirty = false;  // git only
};
Result<SourceIdentity> identify_source_dir(const std::filesystem::path& dir);

// Where the default tarball is extracted (src/<id>/<tree>), extracting it once if needed.
Result<std::filesystem::path> default_source_tree();

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
