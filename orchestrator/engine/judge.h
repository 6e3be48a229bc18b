#pragma once
// The verdict of a run from what it found: the one place where expectations are weighed. Pure,
// so every rule has a unit test (tests/unit/test_judge.cpp).
#include "orchestrator/core/scenario.h"
#include "orchestrator/engine/report.h"

#include <optional>

namespace fb {

// How the run's steps ended, as the runner saw it.
struct RunEnd {
  enum class How { Completed, KernelCrash, Hang, Error };
  How how = How::Completed;
  std::optional<Error> error;  // Hang and Error: what ended the run
};

// Sets r.verdict, r.failures (every unmet expectation, whatever ended the run, so a report never
// hides one) and r.error. Expects r.steps, r.faults, r.kmsg, r.console, r.disks and, after a
// crash, r.crash_title to be filled in.
void judge(RunReport& r, const Scenario& sc, const RunEnd& end);

}  // namespace fb
