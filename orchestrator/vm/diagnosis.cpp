#include "orchestrator/vm/diagnosis.h"

namespace fb {

std::string collect_hang_evidence(Vm& vm, AgentClient& agent, const Timeouts& timeouts) {
  std::string how;
  if (!agent.agent_silent()) {
    if (agent.sysrq("9wt")) how = "sysrq 9, w, t written by the agent";
  }
  if (how.empty()) {
    for (char key : {'9', 'w', 't'}) {
      auto st = vm.send_sysrq(key);
      if (!st) return "no sysrq evidence: " + st.error().message;
      vm.wait_exit(std::chrono::milliseconds(300));  // runs the event loop; the keys take turns
    }
    how = "Alt+SysRq 9, w, t pressed on the VM's keyboard (agent silent)";
  }
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + timeouts.evidence;
  std::size_t seen = vm.console().size();
  auto quiet_since = clock::now();
  while (clock::now() < deadline && !vm.exit_info()) {
    vm.wait_exit(std::chrono::milliseconds(200));
    if (vm.console().size() != seen) {
      seen = vm.console().size();
      quiet_since = clock::now();
    } else if (clock::now() - quiet_since > std::chrono::seconds(1)) {
      break;
    }
  }
  return how;
}

HangDiagnosis diagnose_hang(const std::string& console, const std::string& kmsg) {
  HangDiagnosis d;
  d.blocked_tasks = blocked_tasks(console);
  if (d.blocked_tasks.empty()) d.blocked_tasks = blocked_tasks(kmsg);
  d.kernel_report = scan_console(console).crash;
  return d;
}

std::optional<CrashReport> diagnose_vm_end(Vm& vm, const Timeouts& timeouts) {
  if (!vm.exit_info()) vm.wait_exit(timeouts.panic_exit);
  if (!vm.exit_info()) return std::nullopt;
  return scan_console(vm.console()).crash;
}

}  // namespace fb
