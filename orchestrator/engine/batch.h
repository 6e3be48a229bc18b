#pragma once
// Many runs at once (`faultbox run SCENARIO... --jobs N --repeat K`): every scenario K times,
// each run a `faultbox run` worker process of its own (its own VM, runtime dir, sockets,
// overlays and evidence; docs/architecture.md says why processes, not threads), as many at
// once as the slots hold; then a summary, one merged JSON and JUnit report, and the worst
// verdict (verdict.h).
#include "orchestrator/engine/report.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace fb {

// Where runs may go, and how many at once. Today one slot: this host. A later slot per
// `--connect URI` adds the arguments that send its workers there.
struct Slot {
  std::string name;
  int capacity = 1;
  std::vector<std::string> worker_args;  // appended to the worker's command line
};

// Hands out room in the slots, the one with the most room first, so runs spread over slots.
class SlotPool {
 public:
  explicit SlotPool(std::vector<Slot> slots);
  std::optional<std::size_t> acquire();
  void release(std::size_t slot);
  const Slot& slot(std::size_t i) const { return slots_[i]; }
  int capacity() const;  // all slots together
  int busy() const;

 private:
  std::vector<Slot> slots_;
  std::vector<int> used_;
};

struct BatchRun {
  std::string label;  // the scenario file's stem: what the progress line and the summary say
  std::filesystem::path file;
  int repeat = 1;  // 1..K
};

// Every scenario `repeat` times, scenario by scenario in the order given.
std::vector<BatchRun> expand_runs(const std::vector<std::filesystem::path>& files, int repeat);

// What one run came to: the worker's report, or, when it wrote none, how it exited.
struct RunOutcome {
  bool has_report = false;
  RunReport report;  // the summary fields of the worker's JSON report (report_from_json)
  nlohmann::json report_json;  // that report as the worker wrote it; null without one
  std::filesystem::path evidence;  // the worker's evidence dir, when it kept one
  std::string slot;

  Verdict verdict() const { return report.verdict; }
};

// The outcome of a worker that wrote no report: its exit code's verdict, and its last words.
RunOutcome outcome_without_report(const ExitStatus& status, const std::string& worker_stderr);

// "[3/20] failslab-one-task #2 pass 4.1s"
std::string progress_line(std::size_t done, std::size_t total, const BatchRun& run, const RunOutcome& o);

struct BatchResult {
  std::vector<BatchRun> runs;
  std::vector<RunOutcome> outcomes;  // same index as runs; only the finished ones when interrupted
  std::vector<bool> finished;
  int jobs = 1;
  double seconds = 0;

  Verdict verdict() const;  // the worst of the finished runs' verdicts
  // Per scenario: runs, then one column per verdict of the table; then its distinct crash titles.
  std::string summary() const;
  nlohmann::json to_json() const;
  std::string to_junit() const;
};

struct BatchOptions {
  std::vector<BatchRun> runs;
  std::vector<Slot> slots;
  // The worker command before the scenario (e.g. {faultbox, "--cache-dir", DIR, "run"}) and
  // after it (e.g. {"--kernel", K}); the batch adds the scenario, --json, and the slot's args.
  std::vector<std::string> worker_head, worker_tail;
  // When set, each worker keeps its evidence here, in <dir>/<label>-<repeat> (--keep-artifacts).
  std::filesystem::path keep_dir;
  // Called once per finished run, in the order they finish.
  std::function<void(std::size_t done, const BatchRun&, const RunOutcome&)> on_finished;
};

// Runs the batch; returns when every worker has ended. On SIGINT/SIGTERM/SIGHUP (interrupted())
// it starts nothing more, passes the signal to every running worker (each tears its VM down
// and leaves no evidence), waits for them and returns with `finished` telling which ran. The
// caller keeps the process in the phase where a signal only sets that flag (set_vm_phase),
// so the workers are reaped and the merged reports written or not, never half.
Result<BatchResult> run_batch(const BatchOptions& opts);

// What this host can run at once: each VM's memory (the scenario's plus QEMU's own) against
// MemAvailable, and its CPUs against the host's cores.
struct HostCapacity {
  int cores = 1;
  std::uint64_t mem_available_mib = 0;
};
HostCapacity probe_host_capacity();
struct JobsChoice {
  int jobs = 1;
  std::string reason;  // one line: what limited it
};
// QEMU's own memory beside the guest's RAM: 51 MiB of RSS outside the guest's mapping,
// measured under TCG (docs/benchmarks.md, "Many runs at once"), rounded up.
inline constexpr int kQemuOverheadMib = 64;
JobsChoice default_jobs(const HostCapacity& host, int vm_memory_mib, int vm_cpus, std::size_t runs);

}  // namespace fb
