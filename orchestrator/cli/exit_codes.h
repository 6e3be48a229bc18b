#pragma once
// faultbox's exit codes, stable and documented in docs/exit-codes.md: each is the exit code of
// a verdict in the one table of orchestrator/engine/verdict.h. `faultbox exec` passes the guest
// command's own status through instead (128+N for a signal); its own failures use these codes
// and always print a "faultbox:" line on stderr first.
#include "orchestrator/engine/verdict.h"

namespace fb::exit_code {

inline constexpr int kPass = exit_code_of(Verdict::Pass);
inline constexpr int kFail = exit_code_of(Verdict::Fail);
inline constexpr int kUsage = exit_code_of(Verdict::UsageError);
inline constexpr int kKernelCrash = exit_code_of(Verdict::KernelCrash);
inline constexpr int kHang = exit_code_of(Verdict::Hang);
inline constexpr int kInfra = exit_code_of(Verdict::InfraError);
inline constexpr int kBoot = exit_code_of(Verdict::BootError);

inline int from_error(const Error& e) { return exit_code_of(verdict_of(e.kind)); }

}  // namespace fb::exit_code
