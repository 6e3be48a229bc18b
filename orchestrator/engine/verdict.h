#pragma once
// The verdict of a run and the one table from which its name, its exit code and the verdict of
// an error kind all come (docs/exit-codes.md). `run`, `exec` and every later driver (parallel
// runs, bisection) read this table, so "the kernel did not boot" means one thing everywhere.
#include "common/result.h"

#include <optional>
#include <string_view>

namespace fb {

enum class Verdict {
  Pass,         // every expectation held
  Fail,         // an expectation was not met
  UsageError,   // the scenario or command line is wrong; nothing was judged
  KernelCrash,  // oops, panic, BUG... in the guest (not expected by the scenario)
  Hang,         // the guest stopped answering, or a step or the run passed its deadline
  InfraError,   // faultbox's machinery failed: not a finding about the kernel
  BootError,    // the kernel or image under test did not come up: a finding about the kernel
};

struct VerdictRow {
  Verdict verdict;
  const char* name;
  int exit_code;
  // How bad it is when many runs are summed up in one exit code (`run --jobs/--repeat`): the
  // worst verdict wins. A broken command line or broken machinery first (no other verdict of
  // the batch can be trusted), then a kernel that does not boot (nothing else was tested), then
  // findings from the most to the least severe: crash, hang, unmet expectation.
  int severity;
};

inline constexpr VerdictRow kVerdicts[] = {
    {Verdict::Pass, "pass", 0, 0},
    {Verdict::Fail, "fail", 1, 1},
    {Verdict::UsageError, "usage-error", 2, 6},
    {Verdict::KernelCrash, "kernel-crash", 3, 3},
    {Verdict::Hang, "hang", 4, 2},
    {Verdict::InfraError, "infra-error", 5, 5},
    {Verdict::BootError, "boot-error", 6, 4},
};

constexpr const VerdictRow& verdict_row(Verdict v) {
  for (auto& r : kVerdicts)
    if (r.verdict == v) return r;
  return kVerdicts[5];
}
constexpr int exit_code_of(Verdict v) { return verdict_row(v).exit_code; }
constexpr const char* to_string(Verdict v) { return verdict_row(v).name; }
std::optional<Verdict> verdict_named(std::string_view name);
// The worse of two verdicts by the table's severity.
constexpr Verdict worst(Verdict a, Verdict b) { return verdict_row(b).severity > verdict_row(a).severity ? b : a; }

// What an error that ended a command means as a verdict.
constexpr Verdict verdict_of(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Usage: return Verdict::UsageError;
    case ErrorKind::Boot: return Verdict::BootError;
    case ErrorKind::Timeout: return Verdict::Hang;
    case ErrorKind::Infra:
    case ErrorKind::Protocol: return Verdict::InfraError;
  }
  return Verdict::InfraError;
}

}  // namespace fb
