#pragma once
// The disk root (`[vm] root = "disk"`, `--root disk`): the boot image's content (agent as
// /init, busybox, --include files with their libraries) in an ext4 filesystem on a whole raw
// disk, for workloads that do not fit an initramfs (which lives in guest RAM). Made through
// libguestfs (never mounted on the host), cached by content and size:
//   <cache>/roots/<hash>.raw
// The VM boots it through a fresh qcow2 overlay, so the cached image is never written.
#include "common/result.h"
#include "orchestrator/core/image_builder.h"

#include <cstdint>
#include <filesystem>
#include <string>

namespace fb {

struct RootImage {
  std::filesystem::path image;  // raw, in the cache
  std::uint64_t size_bytes = 0;
  std::size_t content_bytes = 0;
  bool reused = false;
  double seconds = 0;  // time spent making or finding it
};

// The size a disk root gets when none is asked for: the content plus as much again, at least
// 256 MiB, so a workload has room to write.
std::uint64_t default_root_size(std::size_t content_bytes);
// The least size the content fits in (ext4's metadata and journal included).
std::uint64_t min_root_size(std::size_t content_bytes);

// Finds the root image in the cache or makes it there (in a `.partial-` temp dir with a
// janitor, renamed into place when complete, so a failure or kill leaves nothing).
// size_bytes 0: default_root_size. `size_origin` names where the size came from in errors
// (e.g. "file.toml:4:13: [vm] root_size" or "--root-size").
Result<RootImage> prepare_root_image(const ImageBuildOptions& content, std::uint64_t size_bytes,
                                     const std::string& size_origin);

}  // namespace fb
