#include "orchestrator/bisect/tree_worktree.h"

#include "common/files.h"
#include "common/process.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fb {

namespace fs = std::filesystem;

GitResult run_git(const fs::path& dir, std::vector<std::string> args) {
  std::vector<std::string> argv = {"git", "-C", dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_capture(argv, true);
  if (!r) return {-1, r.error().message};
  GitResult g{r->status.exited_normally() ? r->status.code : -1, r->output};
  while (!g.out.empty() && (g.out.back() == '\n' || g.out.back() == ' ')) g.out.pop_back();
  return g;
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }


Result<fs::path> git_work_tree_top(const fs::path& tree, const char* what) {
  std::error_code ec;
  if (find_in_path("git").empty()) return make_error(ErrorKind::Usage, "{}: git not found (apt-get install git)", what);
  if (!fs::is_directory(tree, ec)) return make_error(ErrorKind::Usage, "{}: --tree {}: not a directory", what, tree.string());
  auto top = run_git(tree, {"rev-parse", "--show-toplevel"});
  if (top.code != 0 || top.out.empty())
    return make_error(ErrorKind::Usage, "{}: --tree {}: not a git work tree", what, tree.string());
  return fs::canonical(top.out, ec);
}

Result<std::string> resolve_tree_commit(const fs::path& top, const std::string& rev, const char* what,
                                        const char* option) {
  auto g = run_git(top, {"rev-parse", "--verify", "--quiet", "--end-of-options", rev + "^{commit}"});
  if (g.code != 0 || g.out.empty())
    return make_error(ErrorKind::Usage, "{}: {} {}: no such commit in {}", what, option, rev, top.string());
  return g.out;
}

Result<TreeWorkspace> tree_workspace(const fs::path& top) {
  auto root = cache_subdir("bisect");
  if (!root) return root.error();
  TreeWorkspace ws;
  ws.top = top;
  ws.state = *root / sha256_hex(top.string()).substr(0, 16);
  // The worktree and build dir sit as the default tarball's source and build dir do
  // (kbuild/<id> and src/<id>/<tree>): ccache (CCACHE_BASEDIR = the cache root) then sees the
  // same relative paths and hits on what the default kernel's build compiled.
  std::string geo_id = "tree", geo_tree = "linux";
  if (auto def = default_source_tree()) {
    geo_id = def->parent_path().filename().string();
    geo_tree = def->filename().string();
  }
  ws.worktree = ws.state / "src" / geo_id / geo_tree;
  ws.build = ws.state / "kbuild" / geo_id;
  return ws;
}

Result<Fd> lock_tree_workspace(const TreeWorkspace& ws, bool wait, const char* what) {
  std::error_code ec;
  fs::create_directories(ws.state, ec);
  std::string path = ws.state.string() + ".lock";
  Fd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) return make_error(ErrorKind::Infra, "{}: {}", path, strerror(errno));
  if (flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return fd;
  if (!wait)
    return make_error(ErrorKind::Usage, "{}: a faultbox bisect or kernel build --tree of this tree is running (lock {})",
                      what, path);
  progress("{}: waiting for the faultbox bisect or kernel build --tree using {}", what, ws.worktree.string());
  while (flock(fd.get(), LOCK_EX) != 0)
    if (errno != EINTR) return make_error(ErrorKind::Infra, "flock {}: {}", path, strerror(errno));
  return fd;
}

Status prepare_tree_worktree(const TreeWorkspace& ws, const std::string& commit, const char* what) {
  std::error_code ec;
  auto common_of = [&](const fs::path& d) {
    auto g = run_git(d, {"rev-parse", "--path-format=absolute", "--git-common-dir"});
    return g.code == 0 ? fs::weakly_canonical(g.out, ec) : fs::path();
  };
  if (fs::exists(ws.worktree, ec) && common_of(ws.worktree) != common_of(ws.top)) {
    progress("{}: {} is not a worktree of {}; making it again", what, ws.worktree.string(), ws.top.string());
    fs::remove_all(ws.worktree, ec);
  }
  if (!fs::exists(ws.worktree / ".git", ec)) {
    fs::create_directories(ws.worktree.parent_path(), ec);
    progress("{}: making faultbox's worktree {} (once per tree)", what, ws.worktree.string());
    auto g = run_git(ws.top, {"worktree", "add", "-f", "--detach", ws.worktree.string(), commit});
    if (g.code != 0)
      return make_error(ErrorKind::Infra, "{}: git worktree add {}: {}", what, ws.worktree.string(), first_line(g.out));
  }
  // faultbox's own worktree: whatever an interrupted checkout or bisect left is thrown away.
  run_git(ws.worktree, {"bisect", "reset", "HEAD"});
  if (!run_git(ws.worktree, {"status", "--porcelain"}).out.empty()) run_git(ws.worktree, {"reset", "-q", "--hard"});
  return {};
}

Status checkout_tree_commit(const TreeWorkspace& ws, const std::string& commit, const char* what) {
  auto co = run_git(ws.worktree, {"checkout", "-q", "--detach", "-f", commit});
  if (co.code != 0) return make_error(ErrorKind::Infra, "{}: git checkout {}: {}", what, commit, first_line(co.out));
  return {};
}

KernelBuildOptions tree_kernel_options(const std::string& commit, const TreeWorkspace* ws) {
  KernelBuildOptions ko;
  ko.git_commit = commit;
  if (ws) {
    ko.source = ws->worktree;
    ko.build_dir = ws->build;
  }
  return ko;
}

}  // namespace fb
