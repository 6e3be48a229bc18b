#pragma once
// What a run found, and its renderings: the text a person reads (stdout and report.txt), the
// JSON and JUnit files, and the evidence directory of a run that did not pass. Guest bytes are
// kept raw here; the renderers decide what a terminal may see.
#include "common/process.h"
#include "orchestrator/core/kmsg.h"
#include "orchestrator/disks/disk_image.h"
#include "orchestrator/engine/verdict.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
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
  // Ended by SIGKILL with an OOM kill in its window of the kernel log: who was killed, and why.
  std::optional<OomKill> oom_killed;
};

// One run of a step under fail-nth.
struct NthRun {
  unsigned nth = 0;
  bool injected = false;   // the Nth site was reached and failed
  ExitStatus status;       // how the step ended
  std::string site;        // "failslab: kmem_cache_alloc <- ..." from the kernel log
  std::string stderr_line; // first line the step printed on stderr
  // Sites the step was short of its Nth when it ended (0: injected): with a large N, N minus
  // this is how many fault sites the step reaches (`faultbox explore` counts them so).
  std::optional<long long> left;
};

struct FaultResult {
  std::string name, type;
  std::int64_t fired = 0;          // from the kernel's own counter
  std::int64_t logged = 0;         // FAULT_INJECTION records seen (silent for __GFP_NOWARN callers)
  int armed = 0;                   // steps it was armed for (0: its steps never ran)
  bool may_not_fire = false;       // the scenario allows it never to fire
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

// One scenario-level expectation as judge() weighed it (step expectations live in StepResult):
// what a per-expectation report (KTAP) lists, passed ones included.
struct ExpectationResult {
  std::string name;  // "fault failslab fired", "kernel no-crash", "kernel log contains \"X\"", "disk data"
  bool met = false;
};

struct RunReport {
  std::string scenario;
  std::string file;
  Verdict verdict = Verdict::InfraError;
  std::string kernel_release;
  std::vector<StepResult> steps;
  std::vector<FaultResult> faults;
  std::vector<std::string> failures;
  std::vector<ExpectationResult> expectations;  // judged ones, met or not (failures says why not)
  std::vector<std::string> warnings;
  std::string error;         // why the run could not complete
  std::string crash_title;   // the kernel crash, when there was one
  std::string crash_report;  // its console lines
  std::string kmsg;          // the kernel log, one line per record
  std::string trace;         // the tracefs events asked for (trace_pipe text)
  std::string console;       // the serial console
  std::string host_log;      // what QEMU itself printed (libvirt: what the daemon said of the domain)
  std::string backend;       // the VM backend that ran it (qemu, libvirt); the rest is the same on each
  std::filesystem::path kernel;  // the bzImage the run booted (its .config sits next to cached ones)
  std::vector<std::string> blocked_tasks;  // on a hang: tasks in D state per sysrq-w
  std::string hang_evidence;               // on a hang: how the evidence was collected
  std::vector<DiskInspection> disks;       // post-run inspection of the disks [expect.disk.NAME] names
  double seconds = 0;

  int exit_code() const { return exit_code_of(verdict); }
  nlohmann::json to_json() const;
  std::string to_junit() const;
  // The <testsuite> element of to_junit(), under another name (a merged report's "NAME #2").
  std::string to_junit_suite(const std::string& suite_name) const;
  // The report a person reads: stdout of `run` and report.txt.
  std::string to_text() const;
};

// A report back from its to_json(): the fields a summary and a JUnit report need (scenario,
// file, verdict, seconds, error, failures, warnings, kernel, steps, crash, hang); not the
// faults, disks or logs, which a merged report keeps as the JSON they came in.
Result<RunReport> report_from_json(const nlohmann::json& j);

// report.json, report.txt, kmsg.log, console.log, qemu.log, agent.log, scenario.toml and the
// kernel's config in dir.
Status write_evidence(const RunReport& r, const std::filesystem::path& dir);
// Default evidence dir of a run that did not pass: $XDG_STATE_HOME/faultbox/runs/<time>-<name>-<pid>,
// filled under a temporary name and renamed when complete, so no half-written dir is left.
Result<std::filesystem::path> write_default_evidence(const RunReport& r);

}  // namespace fb
