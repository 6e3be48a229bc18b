#include "orchestrator/engine/judge.h"

#include <fmt/format.h>

namespace fb {

namespace {

// [expect] dmesg_contains / dmesg_not_contains. After a crash the kernel's last words may have
// reached only the serial console (the kernel log stream dies with the guest), so it counts too.
void check_dmesg(RunReport& r, const Scenario& sc, bool crashed) {
  auto logged = [&](const std::string& s) {
    return r.kmsg.find(s) != std::string::npos || (crashed && r.console.find(s) != std::string::npos);
  };
  for (auto& want : sc.expect.dmesg_contains) {
    r.expectations.push_back({"kernel log contains \"" + want + "\"", logged(want)});
    if (!logged(want)) r.failures.push_back("kernel log lacks \"" + want + "\"");
  }
  for (auto& bad : sc.expect.dmesg_not_contains) {
    r.expectations.push_back({"kernel log lacks \"" + bad + "\"", !logged(bad)});
    if (logged(bad)) r.failures.push_back("kernel log contains \"" + bad + "\"");
  }
}

// A fault-injection experiment whose fault never fired tested nothing: that fails the run,
// unless the scenario says the fault may not fire. Faults whose steps never ran (the run ended
// first) are not judged.
void check_faults(RunReport& r, const Scenario& sc) {
  for (auto& f : r.faults) {
    if (f.armed == 0) continue;
    std::size_t before = r.failures.size();
    if (f.fired == 0 && !f.may_not_fire)
      r.failures.push_back(fmt::format("fault {} was armed for {} step(s) and never fired: the run tested nothing "
                                       "(may_not_fire = true allows that)",
                                       f.name, f.armed));
    else if (sc.expect.injected_min && f.fired < *sc.expect.injected_min)
      r.failures.push_back(fmt::format("fault {} fired {} time(s), expected at least {}", f.name, f.fired,
                                       *sc.expect.injected_min));
    r.expectations.push_back({"fault " + f.name + " fired", r.failures.size() == before});
  }
}

}  // namespace

void judge(RunReport& r, const Scenario& sc, const RunEnd& end) {
  using How = RunEnd::How;
  r.failures.clear();
  r.expectations.clear();
  for (auto& s : r.steps)
    for (auto& f : s.failures) r.failures.push_back("step " + s.name + ": " + f);
  check_faults(r, sc);
  check_dmesg(r, sc, end.how == How::KernelCrash);
  for (auto& d : r.disks) {
    r.expectations.push_back({"disk " + d.disk + " as expected", d.failures.empty()});
    for (auto& f : d.failures) r.failures.push_back(f);
  }
  bool crash_expected = sc.expect.kernel == "crash";
  // Judged only when the run ended in a way that says something about it.
  if (end.how == How::Completed || end.how == How::KernelCrash)
    r.expectations.push_back({"kernel " + sc.expect.kernel, (end.how == How::KernelCrash) == crash_expected});
  switch (end.how) {
    case How::Completed:
      if (crash_expected) r.failures.push_back("expected a kernel crash, the kernel survived");
      r.verdict = r.failures.empty() ? Verdict::Pass : Verdict::Fail;
      break;
    case How::KernelCrash:
      // An expected crash passes only if everything before it went as expected too.
      r.verdict = !crash_expected ? Verdict::KernelCrash : r.failures.empty() ? Verdict::Pass : Verdict::Fail;
      break;
    case How::Hang:
      r.verdict = Verdict::Hang;
      break;
    case How::Error:
      r.verdict = end.error ? verdict_of(end.error->kind) : Verdict::InfraError;
      break;
  }
  if (end.error && r.error.empty()) r.error = end.error->message;
}

}  // namespace fb
