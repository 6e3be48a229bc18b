#pragma once
// The scenario as a bisection oracle: what one run's verdict says about a commit, what N runs
// of a step say together, and how sure a "good" is when the bug is flaky. Pure functions, so
// the rules are unit-tested without a kernel (docs/bisect.md has them in prose).
#include "common/result.h"
#include "orchestrator/engine/verdict.h"

#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace fb {

// Which verdict makes a commit bad (`--bad-on`); by default the one seen at BAD.
enum class BadOn { Crash, Fail, Hang, Any };
const char* to_string(BadOn b);
std::optional<BadOn> bad_on_named(const std::string& name);

enum class StepVerdict { Good, Bad, Skip };
const char* to_string(StepVerdict v);  // "good", "bad", "skip": git bisect's words

struct Oracle {
  BadOn bad_on = BadOn::Crash;
  // A crash is this bug when its title matches: the title seen at BAD, exactly, unless
  // --title gave a regex (searched in the title).
  std::string title;        // BAD's crash title (may be empty)
  std::string title_regex;  // --title; empty: compare with `title`
  bool title_matches(const std::string& crash_title) const;
};

// What one run says.
enum class RunClass {
  Bad,     // the verdict the oracle looks for (a crash with the matching title)
  Good,    // the run completed without it
  Masked,  // something else stopped the run first (another crash, a hang, no boot): unknown
  Infra,   // faultbox's machinery failed: says nothing about the commit
};
struct RunJudgement {
  RunClass cls = RunClass::Infra;
  std::string why;  // "crash: BUG: ...", "pass", "unrelated crash: kernel BUG at ...", ...
};
RunJudgement judge_run(const Oracle& oracle, Verdict verdict, const std::string& crash_title, const std::string& error);

// N runs of one commit: bad when any run is bad, good only when all N are good, skip otherwise.
struct StepJudgement {
  StepVerdict verdict = StepVerdict::Skip;
  int runs = 0, bad_runs = 0, good_runs = 0;
  std::string why;  // the first bad run's reason, else the first non-good one's, else "pass"
};
StepJudgement judge_step(const std::vector<RunJudgement>& runs);

// The oracle from the runs at BAD: bad_on as asked, or BAD's worst finding (crash, then hang,
// then fail); the crash title from BAD's first crash. An error when BAD showed nothing to look for.
struct RunSummary {
  Verdict verdict = Verdict::InfraError;
  std::string crash_title;
  std::string error;
};
Result<Oracle> oracle_from_bad(const std::vector<RunSummary>& bad_runs, std::optional<BadOn> bad_on,
                               const std::string& title_regex);

// The chance that N clean runs of a bad commit happen when a run of a bad commit is bad with
// probability bad_rate (measured at BAD): (1 - p)^N.
double chance_bad_called_good(double bad_rate, int runs);

}  // namespace fb
