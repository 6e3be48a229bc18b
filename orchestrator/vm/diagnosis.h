#pragma once
// What a VM that stopped serving says about why: its kernel's crash report, or, for a wedged
// guest, evidence of the hang taken while the wedged work still exists. Backend-neutral: it
// uses only the Vm interface (console, sysrq keys, exit) and the agent, so every backend and
// every command (run, exec) classifies an ending the same way.
#include "orchestrator/core/crash_report.h"
#include "orchestrator/vm/agent_client.h"
#include "orchestrator/vm/vm.h"

#include <optional>
#include <string>
#include <vector>

namespace fb {

// Presses sysrq 9 (every level to the console), w (blocked tasks with stacks) and t (every task):
// through the agent while it still answers, else on the VM's keyboard, which a wedged guest
// still services from its interrupt handler. Then gives the console time to receive it all.
// Returns how the evidence was taken.
std::string collect_hang_evidence(Vm& vm, AgentClient& agent, const Timeouts& timeouts);

struct HangDiagnosis {
  std::vector<std::string> blocked_tasks;  // tasks in D state per sysrq-w ("comm (pid N)")
  std::optional<CrashReport> kernel_report;  // a lockup or hung-task report the kernel printed itself
};
HangDiagnosis diagnose_hang(const std::string& console, const std::string& kmsg);

// After the VM ended under a request: the crash report on its console, if there is one. Waits
// (up to timeouts.panic_exit) for a dying guest's last console lines first.
std::optional<CrashReport> diagnose_vm_end(Vm& vm, const Timeouts& timeouts);

}  // namespace fb
