#include "orchestrator/engine/fault_ledger.h"

#include <algorithm>
#include <cctype>

namespace fb {

using nlohmann::json;

void add_stack(FaultResult& fr, const std::string& sig) {
  if (!sig.empty() && std::find(fr.stacks.begin(), fr.stacks.end(), sig) == fr.stacks.end()) fr.stacks.push_back(sig);
}

namespace {

// FAULTBOX_FAULT_<NAME>_<KEY>=value for each string or number the agent reported when arming
// (e.g. the device a dm or scsi_debug fault created), so steps need not guess device names.
void add_fault_env(std::map<std::string, std::string>& env, const std::string& fault, const json& info) {
  auto upper = [](const std::string& s) {
    std::string o;
    for (char c : s) o.push_back(isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(toupper(c)) : '_');
    return o;
  };
  for (auto& [k, v] : info.items()) {
    if (v.is_string()) env["FAULTBOX_FAULT_" + upper(fault) + "_" + upper(k)] = v.get<std::string>();
    else if (v.is_number()) env["FAULTBOX_FAULT_" + upper(fault) + "_" + upper(k)] = v.dump();
  }
}

}  // namespace

FaultLedger::FaultLedger(const RunPlan& plan, AgentClient& agent) : plan_(plan), agent_(agent) {
  for (auto& f : plan.scenario.faults) {
    FaultResult fr;
    fr.name = f.name;
    fr.type = f.type;
    fr.may_not_fire = f.may_not_fire;
    results_.push_back(std::move(fr));
  }
}

Result<StepArming> FaultLedger::arm(const StepPlan& step) {
  StepArming out;
  for (std::size_t fi : step.arm) {
    auto a = agent_.arm(plan_.arm_requests[fi]);
    if (!a) {
      disarm(out);
      Error e = a.error();
      e.message = plan_.fault(fi).where.str() + ": " + e.message;
      return e;
    }
    out.needs_task_mark |= a->needs_task_mark;
    add_fault_env(out.env, plan_.fault(fi).name, a->info);
    ++results_[fi].armed;
    out.armed.emplace_back(fi, *a);
  }
  return out;
}

std::int64_t FaultLedger::disarm(StepArming& arming) {
  std::int64_t last_record = -1;
  for (auto& [fi, handle] : arming.armed) {
    auto c = agent_.disarm(handle.handle);
    if (!c) {
      undisarmed_.insert(fi);
      continue;
    }
    credit_counters(results_[fi], *c);
    last_record = std::max<std::int64_t>(last_record, c->value("kmsg_record", -1LL));
  }
  return last_record;
}

void FaultLedger::credit_counters(FaultResult& fr, const json& counters) {
  fr.fired += counters.value("fired", 0);
  for (auto& [k, v] : counters.items()) {
    if (k == "fired" || k == "times_left" || k == "kmsg_record") continue;
    if (k == "eligible") {  // bpf_override: calls by the aimed-at tasks, before the probability draw
      fr.eligible = std::max<std::int64_t>(fr.eligible, 0) + v.get<std::int64_t>();
      continue;
    }
    if (k == "stacks" && v.is_array()) {  // collected by the agent (tracefs, a BPF stack map), not logged by the kernel
      for (auto& sig : v)
        if (sig.is_string()) add_stack(fr, sig.get<std::string>());
      continue;
    }
    if (v.is_number_integer() && fr.details.contains(k) && fr.details[k].is_number_integer())
      fr.details[k] = fr.details[k].get<std::int64_t>() + v.get<std::int64_t>();
    else
      fr.details[k] = v;
  }
}

// fail_function's log says only "fail_function", not which function: a record goes to every
// armed fault of its type. The plan refuses two armed debugfs faults of one type, so that is one.
void FaultLedger::credit_log(const StepArming& arming, std::span<const KmsgRecord> during) {
  for (auto& inj : find_injections(during))
    for (auto& [fi, handle] : arming.armed) {
      FaultResult& fr = results_[fi];
      if (fr.type != inj.fault) continue;
      ++fr.logged;
      add_stack(fr, inj.stack_signature());
    }
}

std::vector<FaultResult> FaultLedger::results(bool run_cut_short) const {
  std::vector<FaultResult> out = results_;
  if (run_cut_short)
    for (std::size_t fi : undisarmed_) {
      out[fi].fired = std::max(out[fi].fired, out[fi].logged);
      out[fi].notes.push_back("the run ended before this fault was disarmed: fired counts the injections the kernel log "
                              "showed");
    }
  return out;
}

}  // namespace fb
