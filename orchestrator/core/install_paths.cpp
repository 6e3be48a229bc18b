#include "orchestrator/core/install_paths.h"

#include <cstdlib>

namespace fb {

namespace fs = std::filesystem;

Result<InstallLayout> install_layout() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return make_error(ErrorKind::Infra, "cannot find own executable (/proc/self/exe): {}", ec.message());
  InstallLayout l;
  l.executable = self;
  // Both are relative to the binary's folder, from the GNUInstallDirs the build was configured with.
  l.data_dir = (self.parent_path() / FAULTBOX_BIN_TO_DATA).lexically_normal();
  l.libexec_dir = (self.parent_path() / FAULTBOX_BIN_TO_LIBEXEC).lexically_normal();
  return l;
}

Result<fs::path> kconfig_dir() {
  if (const char* d = getenv("FAULTBOX_KCONFIG_DIR"); d && *d) return fs::path(d);
  auto l = install_layout();
  if (!l) return l.error();
  return l->data_dir / "kconfigs";
}

Result<fs::path> agent_binary() {
  if (const char* a = getenv("FAULTBOX_AGENT"); a && *a) return fs::path(a);
  auto l = install_layout();
  if (!l) return l.error();
  fs::path agent = l->libexec_dir / "faultbox-agent";
  std::error_code ec;
  if (!fs::is_regular_file(agent, ec))
    return make_error(ErrorKind::Infra, "faultbox-agent not found at {} (installed beside {}? set FAULTBOX_AGENT)",
                      agent.string(), l->executable.string());
  return agent;
}

}  // namespace fb
