// faultbox kernel build|path: build (or find) the fault-injection kernel.
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/core/kernel_builder.h"
#include "orchestrator/core/log.h"

#include <cstdio>

namespace fb::cli {

namespace {

struct KernelOptions {
  std::string source, config, fragment_dir;
  std::vector<std::string> fragments;
  int jobs = 0;
  bool force = false;
};

KernelBuildOptions to_build_options(const KernelOptions& o) {
  KernelBuildOptions b;
  b.source = o.source;
  b.base_config = o.config;
  b.fragment_dir = o.fragment_dir;
  for (auto& f : o.fragments) b.extra_fragments.emplace_back(f);
  b.jobs = o.jobs;
  b.force = o.force;
  return b;
}

void add_common(CLI::App* c, KernelOptions& o) {
  c->add_option("--source", o.source, "kernel source tree or tarball (default: " + default_kernel_source().string() + ")");
  c->add_option("--config", o.config, "start from this .config instead of tinyconfig + kvm_guest.config");
  c->add_option("--fragment-dir", o.fragment_dir, "directory of *.config fragments (default: faultbox's kconfigs/)");
  c->add_option("--fragment", o.fragments, "an extra fragment merged last (repeatable)")
      ->allow_extra_args(false);  // one value per occurrence: a later "--" still starts the command
}

}  // namespace

Runner add_kernel(CLI::App& app) {
  auto o = std::make_shared<KernelOptions>();
  auto* kernel = app.add_subcommand("kernel", "Build or locate the fault-injection kernel");
  kernel->require_subcommand(1);
  auto* build = kernel->add_subcommand("build", "Merge the kconfig fragments, verify them, build bzImage (cached)");
  add_common(build, *o);
  build->add_option("--jobs,-j", o->jobs, "make -j (default: number of CPUs)");
  build->add_flag("--force", o->force, "rebuild even when a cached kernel matches");
  auto* path = kernel->add_subcommand("path", "Print the cached kernel's bzImage path (exit 1 when not built)");
  add_common(path, *o);
  return [o, build]() -> int {
    auto opts = to_build_options(*o);
    if (build->parsed()) {
      auto k = build_kernel(opts);
      if (!k) {
        log_line(Verbosity::Quiet, k.error().message);
        return exit_code::from_error(k.error());
      }
      printf("%s\n", k->bzimage.c_str());
      return 0;
    }
    auto k = find_cached_kernel(opts);
    if (!k) {
      log_line(Verbosity::Quiet, k.error().message);
      return exit_code::from_error(k.error());
    }
    if (!*k) {
      log_line(Verbosity::Quiet, "kernel: not built yet (faultbox kernel build)");
      return 1;
    }
    printf("%s\n", (*k)->bzimage.c_str());
    return 0;
  };
}

}  // namespace fb::cli
