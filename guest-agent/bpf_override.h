#pragma once
// bpf_override: makes an ALLOW_ERROR_INJECTION function return a chosen value, through a
// kprobe with a BPF program that calls bpf_override_return(). Only the step's processes are
// hit: the program compares the current task's cgroup id with the step's cgroups (or, where
// the agent has no per-step cgroups, its tgid) that on_step_start() put into a map.
#include "guest-agent/faults.h"

#include <memory>

namespace fb::agent {

// params: {"function" (required), "retval" (default -12), "probability" 0..100 (default 100)}.
AgentResult<std::unique_ptr<Fault>> arm_bpf_override(const nlohmann::json& params);

// Where the agent finds the kernel's error-injection list (tests point it elsewhere).
void set_error_injection_list_path(const std::string& path);

}  // namespace fb::agent
