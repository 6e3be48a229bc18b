#pragma once
// Run reports as KTAP version 1 (the kernel's Documentation/dev-tools/ktap.rst), the format of
// kselftest and KUnit results, so kernel CI tooling (kunit.py parse, KernelCI collectors) reads
// faultbox runs as it reads the kernel's own tests: one test per scenario, with a subtest per
// step, per scenario expectation and a final "verdict" subtest (so a run that ended before its
// expectations were weighed still reads as failed); crash titles, fired counts, unmet
// expectations and errors are diagnostic lines ("# ...") before the result they explain.
#include "orchestrator/engine/report.h"

#include <span>
#include <string>

namespace fb {

std::string to_ktap(std::span<const RunReport> runs);

}  // namespace fb
