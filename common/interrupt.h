#pragma once
// The process-wide "a SIGINT/SIGTERM/SIGHUP arrived" flag. The signal handlers (orchestrator/vm)
// set it; every wait that could outlast a person's patience (a VM, a kernel build, a cache lock
// held by another faultbox) polls it and gives up, so Ctrl-C ends faultbox cleanly.
namespace fb {

bool interrupted();
void set_interrupted(int signal_number);
int interrupt_signal();  // 0 when none arrived

}  // namespace fb
