// faultbox kernel build|path|injectable: build (or find) the fault-injection kernel, of the
// default source, a --source tree or tarball, or a commit of a git tree (--tree REPO --rev REV,
// built in the worktree `faultbox bisect` uses, so the two share kernels and build dir).
#include "orchestrator/bisect/tree_worktree.h"
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
  std::string tree, rev;  // a commit of a git tree instead of --source
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
  c->add_option("--tree", o.tree, "a git kernel tree: the kernel of its commit --rev, built in faultbox's own worktree "
                                  "of it (the one faultbox bisect uses; your checkout is never touched)");
  c->add_option("--rev", o.rev, "with --tree: the commit, branch or tag (default HEAD); cached as git:<commit>");
  c->add_option("--config", o.config, "start from this .config instead of tinyconfig + kvm_guest.config");
  c->add_option("--fragment-dir", o.fragment_dir, "directory of *.config fragments (default: faultbox's kconfigs/)");
  c->add_option("--fragment", o.fragments, "an extra fragment merged last (repeatable)")
      ->allow_extra_args(false);  // one value per occurrence: a later "--" still starts the command
}

int fail(const Error& e) {
  log_line(Verbosity::Quiet, e.message);
  return exit_code::from_error(e);
}

// The commit checked out in faultbox's worktree of the tree and built there, under the
// workspace lock (a running bisect of the same tree is waited for).
Result<KernelArtifact> build_tree_commit(const std::filesystem::path& top, KernelBuildOptions opts) {
  auto ws = tree_workspace(top);
  if (!ws) return ws.error();
  auto lock = lock_tree_workspace(*ws, true, "kernel");
  if (!lock) return lock.error();
  FB_TRY(prepare_tree_worktree(*ws, opts.git_commit, "kernel"));
  progress("kernel: checking out {} in {}", opts.git_commit.substr(0, 12), ws->worktree.string());
  FB_TRY(checkout_tree_commit(*ws, opts.git_commit, "kernel"));
  auto in_ws = tree_kernel_options(opts.git_commit, &*ws);
  opts.source = in_ws.source;
  opts.build_dir = in_ws.build_dir;
  return build_kernel(opts);
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
    // --tree: the commit's identity first (no checkout), so a cached kernel is found at once.
    std::optional<std::filesystem::path> tree_top;
    std::string rebuild = kernel_rebuild_command(opts);
    if (!o->tree.empty()) {
      if (!o->source.empty()) return fail(make_error(ErrorKind::Usage, "kernel: give --source or --tree, not both"));
      auto top = git_work_tree_top(o->tree, "kernel");
      if (!top) return fail(top.error());
      auto commit = resolve_tree_commit(*top, o->rev.empty() ? "HEAD" : o->rev, "kernel", "--rev");
      if (!commit) return fail(commit.error());
      tree_top = *top;
      auto source_opts = tree_kernel_options(*commit);
      opts.git_commit = source_opts.git_commit;
      rebuild = fmt::format("{} --tree {} --rev {}", kernel_rebuild_command(opts), top->string(), *commit);
    } else if (!o->rev.empty()) {
      return fail(make_error(ErrorKind::Usage, "kernel: --rev needs --tree"));
    }
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
      if (tree_top) {
        if (auto k = find_cached_kernel(opts); !o->force && k && *k && (*k)->damage.empty()) {
          progress("kernel: cached {} ({}, {})", (*k)->bzimage.string(), (*k)->release, opts.git_commit.substr(0, 12));
          printf("%s\n", (*k)->bzimage.c_str());
          return 0;
        }
        auto built = build_tree_commit(*tree_top, opts);
        if (!built) return fail(built.error());
        printf("%s\n", built->bzimage.c_str());
        return 0;
      }
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
      log_line(Verbosity::Quiet, fmt::format("kernel: not built yet ({})", rebuild));
      return 1;
    }
    if (!(*k)->damage.empty()) {
      log_line(Verbosity::Quiet, fmt::format("kernel: cached kernel {} is damaged: {}; rebuild it: {}", (*k)->dir.string(),
                                             (*k)->damage, rebuild));
      return exit_code::kInfra;
    }
    printf("%s\n", (*k)->bzimage.c_str());
    return 0;
  };
}

}  // namespace fb::cli
