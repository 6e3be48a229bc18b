#pragma once
// A fake kernel cache entry for the CLI tests that need `kernel path` to find (or judge) a kernel
// without compiling one.
#include "common/files.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/kernel_builder.h"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace fb::test {

// Publishes a sound entry for opts in the cache at `cache` (as the builder does) and returns its dir.
inline std::filesystem::path publish_fake_kernel(const std::filesystem::path& cache, const KernelBuildOptions& opts,
                                                 const std::string& bz) {
  set_cache_root(cache);
  auto dir = cached_kernel_dir(opts);
  set_cache_root({});
  REQUIRE(dir.ok());
  std::filesystem::create_directories(*dir);
  REQUIRE(write_file_atomic(*dir / "bzImage", bz).ok());
  nlohmann::json meta = {{"release", "6.1.0-fake"}, {"bzimage_size", bz.size()}, {"bzimage_sha256", sha256_hex(bz)}};
  REQUIRE(write_file_atomic(*dir / "meta.json", meta.dump()).ok());
  return *dir;
}

}  // namespace fb::test
