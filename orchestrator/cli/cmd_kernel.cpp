// faultbox kernel build|path: build (or find) the fault-injection kernel.
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/core/error_injection.h"
#include "orchestrator/core/kernel_builder.h"
#include "orchestrator/core/log.h"

#include <algorithm>
#include <cstdio>

namespace fb::cli {

namespace {

struct KernelOptions {
  std::string source, config, fragment_dir, vmlinux;
  std::vector<std::string> fragments;
  std::vector<std::string> functions;  // injectable: only these
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
  c->add_option("--source", o.source, "kernel source tree or tarball (default: " + default_kernel_source().string() + "); a git work tree is cached by commit");
  c->add_option("--config", o.config, "start from this .config instead of tinyconfig + kvm_guest.config");
  c->add_option("--fragment-dir", o.fragment_dir, "directory of *.config fragments (default: faultbox's kconfigs/)");
  c->add_option("--fragment", o.fragments, "an extra fragment merged last (repeatable)")
      ->allow_extra_args(false);  // one value per occurrence: a later "--" still starts the command
}

}  // namespace

CommandMain add_kernel(CLI::App& app) {
  auto o = std::make_shared<KernelOptions>();
  auto* kernel = app.add_subcommand("kernel", "Build or locate the fault-injection kernel");
  kernel->require_subcommand(1);
  auto* build = kernel->add_subcommand("build", "Merge the kconfig fragments, verify them, build bzImage (cached)");
  add_common(build, *o);
  build->add_option("--jobs,-j", o->jobs, "make -j (default: number of CPUs)");
  build->add_flag("--force", o->force, "rebuild even when a cached kernel matches");
  auto* path = kernel->add_subcommand("path", "Print the cached kernel's bzImage path (exit 1 when not built)");
  add_common(path, *o);
  auto* injectable = kernel->add_subcommand(
      "injectable", "Print the kernel's error-injection list (what fail_function and bpf_override may fail) as "
                    "'function<TAB>type'; exit 1 while it is unknown (it is learnt at the kernel's first boot)");
  add_common(injectable, *o);
  injectable->add_option("--vmlinux", o->vmlinux, "read it from this vmlinux instead of the cache");
  injectable->add_option("function", o->functions, "print only these functions; exit 1 if one is not injectable")
      ->expected(-1);
  return [o, build, injectable]() -> int {
    auto opts = to_build_options(*o);
    if (injectable->parsed()) {
      std::optional<ErrorInjectionList> list;
      if (!o->vmlinux.empty()) {
        auto l = read_error_injection_list(o->vmlinux);
        if (!l) {
          log_line(Verbosity::Quiet, l.error().message);
          return exit_code::from_error(l.error());
        }
        list = std::move(*l);
      } else if (auto k = find_cached_kernel(opts); k && *k) {
        list = cached_error_injection_list((*k)->bzimage);
      }
      if (!list) {
        log_line(Verbosity::Quiet, "kernel: error-injection list not known yet (boot the kernel once, e.g. faultbox exec -- true)");
        return 1;
      }
      int missing = 0;
      for (auto& want : o->functions)
        if (std::none_of(list->functions.begin(), list->functions.end(), [&](auto& f) { return f.function == want; })) {
          log_line(Verbosity::Quiet, fmt::format("kernel: {} is not in the kernel's error-injection list", want));
          ++missing;
        }
      for (auto& f : list->functions)
        if (o->functions.empty() || std::find(o->functions.begin(), o->functions.end(), f.function) != o->functions.end())
          printf("%s\t%s\n", f.function.c_str(), f.type.c_str());
      return missing ? 1 : 0;
    }
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
    if (!(*k)->damage.empty()) {
      log_line(Verbosity::Quiet, fmt::format("kernel: cached kernel {} is damaged: {}; rebuild it: {}", (*k)->dir.string(),
                                             (*k)->damage, kernel_rebuild_command(opts)));
      return exit_code::kInfra;
    }
    printf("%s\n", (*k)->bzimage.c_str());
    return 0;
  };
}

}  // namespace fb::cli
