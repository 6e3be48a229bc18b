#pragma once
// Where faultbox's own files are (the kconfig fragments, the guest agent): found relative to
// the running executable, never through a path compiled in. An install under any prefix, a
// DESTDIR staging tree and the build tree (which mirrors the install layout) all work alike:
//   PREFIX/bin/faultbox
//   PREFIX/libexec/faultbox/faultbox-agent
//   PREFIX/share/faultbox/kconfigs/*.config
#include "common/result.h"

#include <filesystem>

namespace fb {

struct InstallLayout {
  std::filesystem::path executable;   // the running binary, symlinks resolved
  std::filesystem::path data_dir;     // PREFIX/share/faultbox
  std::filesystem::path libexec_dir;  // PREFIX/libexec/faultbox
};

// The layout around the running executable (/proc/self/exe).
Result<InstallLayout> install_layout();

// The kconfig fragments: $FAULTBOX_KCONFIG_DIR, else DATA_DIR/kconfigs.
Result<std::filesystem::path> kconfig_dir();
// The static guest agent: $FAULTBOX_AGENT, else LIBEXEC_DIR/faultbox-agent; an Infra error
// naming where it looked when it is not there.
Result<std::filesystem::path> agent_binary();

}  // namespace fb
