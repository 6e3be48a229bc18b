// faultbox: run fault-injection experiments against a Linux kernel in a throw-away QEMU VM.
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/cli/session_options.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/log.h"
#include "orchestrator/vm/vm.h"
#include "protocol/protocol.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "build_info.h"  // generated: FAULTBOX_GIT_COMMIT

namespace {

// What a bug report needs to name the build: --version.
std::string version_text() {
#ifdef __clang__
  const char* compiler = "clang " __clang_version__;
#else
  const char* compiler = "gcc " __VERSION__;
#endif
  return fmt::format("faultbox {}\ngit commit: {}\nprotocol: {}\ncompiler: {}", FAULTBOX_VERSION, FAULTBOX_GIT_COMMIT,
                     fb::proto::kVersion, compiler);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"faultbox: fault-injection experiments against a Linux kernel in a throw-away VM"};
  app.require_subcommand(1);
  app.set_version_flag("--version", version_text());
  bool verbose = false, quiet = false;
  std::string cache_dir;
  app.add_flag("-v,--verbose", verbose, "more progress detail (QEMU command lines, QMP events)");
  app.add_flag("-q,--quiet", quiet, "only errors on stderr");
  app.add_option("--cache-dir", cache_dir, "cache directory (default: $XDG_CACHE_HOME/faultbox or ~/.cache/faultbox)");
  std::vector<std::pair<CLI::App*, fb::cli::CommandMain>> runners;
  for (auto add : {fb::cli::add_exec, fb::cli::add_kernel, fb::cli::add_image, fb::cli::add_doctor, fb::cli::add_check, fb::cli::add_run, fb::cli::add_explore, fb::cli::add_bisect, fb::cli::add_triage, fb::cli::add_list_faults, fb::cli::add_explore_report, fb::cli::add_complete}) {
    auto runner = add(app);
    runners.emplace_back(app.get_subcommands({}).back(), runner);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : fb::exit_code::kUsage;
  }
  fb::set_verbosity(quiet ? fb::Verbosity::Quiet : verbose ? fb::Verbosity::Verbose : fb::Verbosity::Normal);
  if (!cache_dir.empty()) fb::set_cache_root(cache_dir);
  fb::install_signal_handlers();
  for (auto& [cmd, run] : runners) {
    if (!cmd->parsed()) continue;
    int rc = run();
    // Torn down after SIGINT/SIGTERM/SIGHUP: exit as the shell expects of a signalled job.
    return fb::interrupted() ? 128 + fb::interrupt_signal() : rc;
  }
  return fb::exit_code::kUsage;
}
