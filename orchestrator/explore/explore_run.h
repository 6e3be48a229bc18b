#pragma once
// Running an exploration (docs/explore.md): discovery on one VM, then one run per site on up to
// `jobs` warm VMs. A VM serves run after run while its kernel stays healthy (no crash or hang,
// taint unchanged, agent answering, MemAvailable near its baseline) and is replaced when not.
// Each run gets a fresh tmpfs on /tmp, so a workload that creates files finds the same state on
// every run. Writes explore.json, explore.txt and per-run evidence into the report dir.
#include "orchestrator/explore/explore.h"
#include "orchestrator/vm/session.h"

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

namespace fb {

struct ExploreOptions {
  Workload workload;
  SiteSelection sites;
  int jobs = 1;
  std::chrono::milliseconds budget{0};  // 0: no limit; past it, the remaining sites are not-run
  std::filesystem::path out;            // the report dir (made when missing)
  std::filesystem::path emit_dir;       // --emit-scenarios: a scenario per interesting run; empty: none
  SessionOptions vm;                    // accel, initrd, includes, console, backend of the VMs
  std::string faultbox_version;
  std::function<void(const std::string&)> on_progress;  // one line per finished run
};

// Runs the exploration and writes its report; returns it (also when interrupted or over the
// budget: complete = false, the sites not run are not-run rows). An error only when nothing
// could be explored (the first VM did not boot, the workload cannot be planned).
Result<ExploreReport> run_explore(const ExploreOptions& o);

// Writes explore.json and explore.txt into dir (atomically each).
Status write_explore_report(const ExploreReport& r, const std::filesystem::path& dir);

// $XDG_STATE_HOME/faultbox/explore/<time>-<command>-<pid>
Result<std::filesystem::path> default_explore_dir(const Workload& w);

}  // namespace fb
