#include "orchestrator/bisect/oracle.h"

#include <cmath>

namespace fb {

const char* to_string(BadOn b) {
  switch (b) {
    case BadOn::Crash: return "crash";
    case BadOn::Fail: return "fail";
    case BadOn::Hang: return "hang";
    case BadOn::Any: return "any";
  }
  return "any";
}

std::optional<BadOn> bad_on_named(const std::string& name) {
  for (BadOn b : {BadOn::Crash, BadOn::Fail, BadOn::Hang, BadOn::Any})
    if (name == to_string(b)) return b;
  return std::nullopt;
}

const char* to_string(StepVerdict v) {
  switch (v) {
    case StepVerdict::Good: return "good";
    case StepVerdict::Bad: return "bad";
    case StepVerdict::Skip: return "skip";
  }
  return "skip";
}

bool Oracle::title_matches(const std::string& crash_title) const {
  if (!title_regex.empty()) {
    // Checked when the oracle is made; a regex that does not compile never matches here.
    try {
      return std::regex_search(crash_title, std::regex(title_regex, std::regex::extended));
    } catch (const std::regex_error&) {
      return false;
    }
  }
  return !title.empty() && crash_title == title;
}

RunJudgement judge_run(const Oracle& o, Verdict v, const std::string& crash_title, const std::string& error) {
  bool want_crash = o.bad_on == BadOn::Crash || o.bad_on == BadOn::Any;
  bool want_hang = o.bad_on == BadOn::Hang || o.bad_on == BadOn::Any;
  bool want_fail = o.bad_on == BadOn::Fail || o.bad_on == BadOn::Any;
  switch (v) {
    case Verdict::Pass: return {RunClass::Good, "pass"};
    case Verdict::KernelCrash:
      if (want_crash && o.title_matches(crash_title)) return {RunClass::Bad, "crash: " + crash_title};
      // Another crash hides whether this bug is there: git bisect's "skip", never "bad".
      return {RunClass::Masked, "unrelated crash: " + crash_title};
    case Verdict::Hang:
      if (want_hang) return {RunClass::Bad, "hang"};
      return {RunClass::Masked, "hang"};
    case Verdict::Fail:
      if (want_fail) return {RunClass::Bad, "fail"};
      // The run finished without the crash or hang looked for: that bug is not here.
      return {RunClass::Good, "no " + std::string(to_string(o.bad_on)) + " (an expectation failed)"};
    case Verdict::BootError: return {RunClass::Masked, "boot error: " + error};
    case Verdict::UsageError:
    case Verdict::InfraError: return {RunClass::Infra, "infra error: " + error};
  }
  return {RunClass::Infra, "infra error"};
}

StepJudgement judge_step(const std::vector<RunJudgement>& runs) {
  StepJudgement s;
  s.runs = static_cast<int>(runs.size());
  const RunJudgement* first_bad = nullptr;
  const RunJudgement* first_other = nullptr;
  for (auto& r : runs) {
    if (r.cls == RunClass::Bad) {
      ++s.bad_runs;
      if (!first_bad) first_bad = &r;
    } else if (r.cls == RunClass::Good) {
      ++s.good_runs;
    } else if (!first_other) {
      first_other = &r;
    }
  }
  if (first_bad) {
    s.verdict = StepVerdict::Bad;
    s.why = first_bad->why;
  } else if (s.runs > 0 && s.good_runs == s.runs) {
    s.verdict = StepVerdict::Good;
    s.why = runs.front().why;
  } else {
    s.verdict = StepVerdict::Skip;
    s.why = first_other ? first_other->why : "no run";
  }
  return s;
}

Result<Oracle> oracle_from_bad(const std::vector<RunSummary>& bad_runs, std::optional<BadOn> bad_on,
                               const std::string& title_regex) {
  Oracle o;
  o.title_regex = title_regex;
  if (!title_regex.empty()) try {
      std::regex re(title_regex, std::regex::extended);
    } catch (const std::regex_error& e) {
      return make_error(ErrorKind::Usage, "--title {}: not a regular expression ({})", title_regex, e.what());
    }
  bool crash = false, hang = false, fail = false;
  for (auto& r : bad_runs) {
    if (r.verdict == Verdict::KernelCrash) {
      if (!crash) o.title = r.crash_title;
      crash = true;
    }
    hang |= r.verdict == Verdict::Hang;
    fail |= r.verdict == Verdict::Fail;
  }
  if (bad_on) o.bad_on = *bad_on;
  else if (crash) o.bad_on = BadOn::Crash;
  else if (hang) o.bad_on = BadOn::Hang;
  else if (fail) o.bad_on = BadOn::Fail;
  else return make_error(ErrorKind::Usage, "no run crashed, hung or failed");
  return o;
}

double chance_bad_called_good(double bad_rate, int runs) {
  if (runs <= 0) return 1;
  return std::pow(1.0 - bad_rate, runs);
}

}  // namespace fb
