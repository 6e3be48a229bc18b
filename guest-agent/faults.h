#pragma once
// Fault modules of the agent. Each arms one kernel fault interface from a JSON spec, disarms
// it, and reads back how often it fired. Safe defaults: task_filter on (only processes the
// agent marks with make-it-fail can fail, never the agent or init), verbose 1.
#include "common/result.h"
#include "guest-agent/agent_error.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace fb::agent {

// The step an exec request aims faults at (its "faults" handles).
struct StepProcess {
  std::uint32_t channel = 0;
  int pid = -1;  // the step's first process, stopped at its first instruction; -1: not aimed at
  // The cgroup v2 whose tasks the fault hits: the step's own (its children inherit it), or its
  // `target` child when the step moves itself in right before the call under test; 0: none.
  std::uint64_t cgroup_id = 0;
};

class Fault {
 public:
  virtual ~Fault() = default;
  // Counters and state after the fault ran: {"fired": N, ...}.
  virtual nlohmann::json counters() = 0;
  // Puts every knob back; idempotent.
  virtual void disarm() = 0;
  // Whether the step's processes must be marked with /proc/self/make-it-fail.
  virtual bool needs_task_mark() const = 0;
  // What steps need to know about the armed fault, e.g. {"device": "/dev/dm-0"} for a fault
  // that creates a block device; the host exports it as FAULTBOX_FAULT_<NAME>_<KEY>.
  virtual nlohmann::json info() const { return nlohmann::json::object(); }
  // Faults that pick their victims themselves (BPF) learn the step here: called while its first
  // process is stopped right after exec, so the fault starts with the program's first
  // instruction and never hits the agent's fork and exec. An error fails the exec.
  virtual Status on_step_start(const StepProcess&) { return {}; }
  // The step was reaped; forget it (a pid may be reused).
  virtual void on_step_end(const StepProcess&) {}
};

// spec: {"type", "name", "params": {...}}. Returns the armed fault or why not (with its
// protocol error code).
AgentResult<std::unique_ptr<Fault>> arm_fault(const nlohmann::json& spec);

// The sysfs directory of "disk:NAME" or "disk:NAME/N" (disk_lookup.h, under the sysfs root),
// or why not.
Result<std::string> resolve_disk_target(const std::string& target);

// Before a step runs with fail-nth: failslab and fail_page_alloc skip allocations that may
// sleep while their ignore-gfp-wait is Y (the kernel's default), so fail-nth would never count
// a GFP_KERNEL allocation, the commonest kind, and a sweep or explore would not see the error
// paths behind them. Writes N to both (faultbox's own default for the two types, and what
// syzkaller sets); with their probability at 0 only a task's fail-nth reads it. Best effort: a
// kernel without the attribute has nothing to count there.
void count_sleeping_allocations_for_fail_nth();

// Where the agent finds debugfs and sysfs (tests on the host point them at a fake tree).
void set_debugfs_root(const std::string& root);
void set_sysfs_root(const std::string& root);
const std::string& sysfs_root();

}  // namespace fb::agent
