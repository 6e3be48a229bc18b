#pragma once
// `faultbox bisect`: git bisect over a kernel tree with a scenario as the oracle. faultbox
// works in a git worktree of its own (the user's checkout, index and branch are never
// touched), drives `git bisect --no-checkout` there, checks out only the commits it builds
// (so make rebuilds only what changed, in one persistent build dir, with ccache), caches each
// step's kernel by commit, runs the scenario N times per step as worker processes (batch.h),
// and writes every step to a log before the next, so an interrupted bisect continues.
#include "common/result.h"
#include "orchestrator/bisect/oracle.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace fb {

struct BisectOptions {
  std::filesystem::path tree;      // the user's git work tree
  std::string good, bad;           // revisions as the user wrote them
  std::filesystem::path scenario;  // already checked by the caller
  int repeat = 1;
  int jobs = 0;                    // runs at once; 0: as many as the host allows, at most repeat
  int build_jobs = 0;              // make -j; 0: number of CPUs
  std::optional<BadOn> bad_on;
  std::string title_regex;
  bool fresh = false;  // forget this tree's log and decide every commit again (kernels stay cached)
  int vm_memory_mib = 256, vm_cpus = 1;  // the scenario's, for the default --jobs
  std::vector<std::string> worker_head;  // {faultbox, --cache-dir, DIR, run}
  FILE* out = stderr;                    // progress lines (the result goes to stdout)
};

struct BisectStep {
  std::string role;  // "bad-check", "good-check", "step"
  std::string commit;
  std::string subject;
  StepVerdict verdict = StepVerdict::Skip;
  int runs = 0, bad_runs = 0;
  std::string why;
  bool built = false;  // a kernel was compiled for it (not from the cache)
  double build_seconds = 0, run_seconds = 0;
  std::vector<RunSummary> run_summaries;
  nlohmann::json to_json() const;
  static std::optional<BisectStep> from_json(const nlohmann::json& j);
};

struct BisectResult {
  enum class End { FirstBad, OnlySkipped, Interrupted } end = End::FirstBad;
  std::vector<BisectStep> steps;  // in the order they were decided (from the log first)
  std::size_t steps_from_log = 0;
  std::string first_bad;          // End::FirstBad
  std::string first_bad_subject, first_bad_author;
  std::vector<std::string> candidates;  // End::OnlySkipped: what git bisect could not tell apart
  Oracle oracle;
  double bad_rate = 0;  // bad runs / runs at BAD
  int builds = 0, boots = 0;  // by this invocation
  double seconds = 0;         // this invocation
  std::filesystem::path state_dir;
  std::string git_log;  // `git bisect log`: replayable with `git bisect replay`
  nlohmann::json to_json() const;
  std::string to_text() const;
};

Result<BisectResult> run_bisect(const BisectOptions& opts);

}  // namespace fb
