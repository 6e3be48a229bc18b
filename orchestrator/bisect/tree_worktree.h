#pragma once
// faultbox's own git worktree of a user's kernel tree, with its persistent build dir, under
// bisect/<tree id>/ in the cache. `faultbox bisect` checks its steps out there and
// `faultbox kernel build --tree REPO --rev REV` a single commit, so both share one checkout
// (no second 3-minute checkout of a kernel tree), one incremental build dir and the kernels
// cached by `git:<commit>`: a commit either of them built is a cache hit for the other.
// The user's checkout, index and branch are never touched.
#include "common/fd.h"
#include "common/result.h"
#include "orchestrator/core/kernel_builder.h"

#include <filesystem>
#include <string>
#include <vector>

namespace fb {

// `git -C dir ARGS...`: its exit code (-1 when git could not run or was killed) and its stdout
// and stderr together, trailing newlines and spaces cut. Shared by the worktree code and bisect.
struct GitResult {
  int code = -1;
  std::string out;
};
GitResult run_git(const std::filesystem::path& dir, std::vector<std::string> args);
std::string first_line(const std::string& s);

// The top of the git work tree at `tree`; a usage error starting with `what` ("bisect",
// "kernel") when git is missing or `tree` is not a work tree.
Result<std::filesystem::path> git_work_tree_top(const std::filesystem::path& tree, const char* what);

// `rev` as a full commit id of the tree at `top`, or a usage error naming the option ("--good", "--rev").
Result<std::string> resolve_tree_commit(const std::filesystem::path& top, const std::string& rev, const char* what,
                                        const char* option);

// Where faultbox keeps its worktree and build dir for a tree (nothing is created).
struct TreeWorkspace {
  std::filesystem::path top;       // the user's work tree, canonical
  std::filesystem::path state;     // bisect/<tree id>/: worktree, build dir, bisect logs
  std::filesystem::path worktree;  // state/src/<id>/<tree>: placed like the default tarball's source
  std::filesystem::path build;     // state/kbuild/<id>: like the default build dir, so ccache hits carry over
};
// Finding the default tarball's geometry may extract it once (kernel_builder's default_source_tree()).
Result<TreeWorkspace> tree_workspace(const std::filesystem::path& top);

// The exclusive lock on a workspace (its worktree and build dir serve one process at a time),
// released with the fd. `wait` false: a usage error when another process holds it.
Result<Fd> lock_tree_workspace(const TreeWorkspace& ws, bool wait, const char* what);

// Makes the worktree when it does not exist (detached at `commit`; a stale directory that is
// not a worktree of this tree is made again) and throws away whatever an interrupted checkout
// or bisect left in it. Call with the lock held.
Status prepare_tree_worktree(const TreeWorkspace& ws, const std::string& commit, const char* what);

// Checks `commit` out in the worktree (git rewrites only the files that differ). Lock held.
Status checkout_tree_commit(const TreeWorkspace& ws, const std::string& commit, const char* what);

// Kernel build options for `commit` of a tree: identified as `git:<commit>` without asking git,
// so the cache can be asked before anything is checked out. With a workspace, built in its
// worktree and build dir (build_kernel checks that the worktree is a clean checkout of it).
KernelBuildOptions tree_kernel_options(const std::string& commit, const TreeWorkspace* ws = nullptr);

}  // namespace fb
