#pragma once
// Runs a scenario: boots a VM with its disks, follows the kernel log, and for each step arms
// the faults that name it, runs it (marked for task-filtered faults), disarms them and reads
// back how often each fired. Produces the report and the verdict.
#include "orchestrator/core/scenario.h"
#include "orchestrator/disks/disk_image.h"
#include "common/process.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace fb {

struct FileSnapshot {
  std::string path, before, after;
};

struct StepResult {
  std::string name;
  ExitStatus status;
  bool finished = false;  // false: timed out, or the VM went first
  std::string out, err;
  double seconds = 0;
  std::vector<std::string> failures;  // unmet step expectations
  std::vector<FileSnapshot> snapshots;
};

// One run of a step under fail-nth.
struct NthRun {
  unsigned nth = 0;
  bool injected = false;   // the Nth site was reached and failed
  ExitStatus status;       // how the step ended
  std::string site;        // "failslab: kmem_cache_alloc <- ..." from the kernel log
  std::string stderr_line; // first line the step printed on stderr
};

struct FaultResult {
  std::string name, type;
  std::int64_t fired = 0;          // from the kernel's own counter
  std::int64_t logged = 0;         // FAULT_INJECTION records seen (silent for __GFP_NOWARN callers)
  std::vector<std::string> stacks;  // distinct stack signatures from the log
  std::vector<NthRun> nth_runs;     // fail_nth: one per run of the step
  std::vector<std::string> notes;
  // What else the agent reported at disarm (e.g. a dm-dust bad-block list, the SCSI error kinds
  // injected, the first failed I/O records); numbers add up over steps, the rest is the last step's.
  nlohmann::json details = nlohmann::json::object();
  // Calls that could have been failed (bpf_override: by the aimed-at tasks, before the
  // probability draw); -1 when the fault type does not count them.
  std::int64_t eligible = -1;
};

struct RunReport {
  std::string scenario;
  std::string file;
  std::string verdict = "infra-error";  // pass | fail | kernel-crash | hang | usage-error | infra-error
  int exit_code = 5;
  std::string kernel_release;
  std::vector<StepResult> steps;
  std::vector<FaultResult> faults;
  std::vector<std::string> failures;
  std::vector<std::string> warnings;
  std::string error;     // why the run could not complete
  std::string crash_title;   // the kernel crash, when there was one
  std::string crash_report;  // its console lines
  std::string kmsg;      // the kernel log, one line per record
  std::string trace;     // the tracefs events asked for (trace_pipe text)
  std::string console;   // the serial console
  std::string host_log;  // what QEMU itself printed
  std::filesystem::path kernel;  // the bzImage the run booted (its .config sits next to cached ones)
  std::vector<std::string> blocked_tasks;  // on a hang: tasks in D state per sysrq-w
  std::string hang_evidence;              // on a hang: how the evidence was collected
  std::vector<DiskInspection> disks;      // post-run inspection of the disks [expect.disk.NAME] names
  double seconds = 0;
  nlohmann::json to_json() const;
  std::string to_junit() const;
};

struct ScenarioRunOptions {
  bool follow = false;  // kernel log and step output live on stderr/stdout
};

RunReport run_scenario(const Scenario& sc, const ScenarioRunOptions& opts);

}  // namespace fb
