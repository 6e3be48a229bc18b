#include "guest-agent/faults.h"

#include "guest-agent/block_faults.h"
#include "guest-agent/bpf_override.h"
#include "guest-agent/disk_lookup.h"
#include "guest-agent/sysfs_text.h"
#include "protocol/fault_types.h"
#include "protocol/protocol.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

namespace fb::agent {

using nlohmann::json;

namespace {

std::string g_debugfs = "/sys/kernel/debug";
std::string g_sysfs = "/sys";

// `times` counts down only when positive, so faultbox writes a large number for "no limit"
// and reads back how many were used: an exact fired count, which the log is not (callers that
// pass __GFP_NOWARN fail silently).
constexpr long long kUnlimitedTimes = 2147483647;

// A parameter as the request gives it, else the registry's default (protocol/fault_types.h): the
// host's plan fills defaults in already; this keeps an older or hand-made request to the same.
long long param(const std::string& type, const json& p, const char* key) {
  const json* v = p.contains(key) ? &p[key] : nullptr;
  if (v && v->is_boolean()) return v->get<bool>() ? 1 : 0;
  if (v && v->is_number_integer()) return v->get<long long>();
  return proto::param_default(type, key);
}

}  // namespace

Result<std::string> resolve_disk_target(const std::string& target) { return disk_target_dir(g_sysfs, target); }

const std::string& sysfs_root() { return g_sysfs; }

namespace {

// A debugfs fault attribute (failslab, fail_page_alloc, fail_function, ...), optionally tied to
// devices through their make-it-fail or io-timeout-fail switch.
class AttrFault : public Fault {
 public:
  AttrFault(std::string type, std::string dir, bool task_filter)
      : type_(std::move(type)), dir_(std::move(dir)), task_filter_(task_filter) {}

  // fail_function: the function must be injectable in this kernel; checked before anything is
  // written so a refused fault leaves nothing armed.
  AgentStatus inject_function(const json& p) {
    std::string fn = p.value("function", "");
    auto kind = injectable_kind(fn);
    if (!kind)
      return AgentError{proto::errc::kNotInjectable,
                        "'" + fn + "' is not in " + dir_ +
                            "/injectable: the kernel allows error injection only into functions marked "
                            "ALLOW_ERROR_INJECTION"};
    FB_TRY(set("inject", fn));
    function_ = fn;
    long long def = *kind == "TRUE" ? 1 : *kind == "NULL" ? 0 : -12;
    // The retval file parses an unsigned 64-bit number: a negative errno goes in as its two's
    // complement (what `printf %#x -12` gives in the kernel's own docs).
    char hex[32];
    snprintf(hex, sizeof hex, "%#llx", static_cast<unsigned long long>(p.value("retval", def)));
    if (auto s = set(fn + "/retval", hex); !s) {
      disarm();
      return s;
    }
    return {};
  }

  // Every other knob, the device switch, and the probability last: the fault is live only once
  // everything else is in place. The caller disarms on failure.
  AgentStatus configure(const json& p) {
    long long times = param(type_, p, "times");
    times_written_ = times < 0 ? kUnlimitedTimes : times;
    for (auto& [file, value] : knobs(p)) FB_TRY(set(file, value));
    if (type_ == "fail_make_request" || type_ == "fail_io_timeout") {
      auto dev = resolve_disk_target(p.value("target", ""));
      if (!dev) return AgentError{proto::errc::kBadTarget, dev.error().message};
      FB_TRY(add_switch(*dev + (type_ == "fail_make_request" ? "/make-it-fail" : "/io-timeout-fail")));
    }
    return set("probability", std::to_string(param(type_, p, "probability")));
  }

  json counters() override {
    json c;
    std::string t = read_text(dir_ + "/times");
    long long left = t.empty() ? kUnlimitedTimes : std::stoll(t);
    c["fired"] = times_written_ - left;
    c["times_left"] = left;
    return c;
  }

  // Best effort: a knob that cannot be put back leaves nothing to report to.
  void disarm() override {
    for (auto& s : switches_) (void)write_text(s, "0");
    switches_.clear();
    if (!function_.empty()) {
      (void)write_text(dir_ + "/inject", "!" + function_);
      function_.clear();
    }
    (void)write_text(dir_ + "/probability", "0");
    if (task_filter_) (void)write_text(dir_ + "/task-filter", "N");
  }

  bool needs_task_mark() const override { return task_filter_; }

 private:
  static std::string yn(bool b) { return b ? "Y" : "N"; }

  AgentStatus set(const std::string& file, const std::string& value) {
    return with_code(proto::errc::kArmFailed, write_text(dir_ + "/" + file, value));
  }

  AgentStatus add_switch(const std::string& path) {
    FB_TRY(with_code(proto::errc::kArmFailed, write_text(path, "1")));
    switches_.push_back(path);
    return {};
  }

  // The function's type in <dir>/injectable (ERRNO, TRUE, NULL, ...), or nullopt when it is not there.
  std::optional<std::string> injectable_kind(const std::string& fn) const {
    std::ifstream inj(dir_ + "/injectable");
    std::string line;
    std::optional<std::string> kind;
    while (std::getline(inj, line)) {
      std::istringstream ls(line);
      std::string name, k;
      ls >> name >> k;
      if (name == fn) kind = k;
    }
    return kind;
  }

  // The knobs of this type, in the order they are written (probability is not among them).
  std::vector<std::pair<std::string, std::string>> knobs(const json& p) const {
    std::vector<std::pair<std::string, std::string>> k = {
        {"interval", std::to_string(param(type_, p, "interval"))},
        {"space", std::to_string(param(type_, p, "space"))},
        {"verbose", std::to_string(param(type_, p, "verbose"))},
        {"task-filter", yn(task_filter_)},
        {"times", std::to_string(times_written_)},
    };
    if (type_ == "failslab" || type_ == "fail_page_alloc")
      k.emplace_back("ignore-gfp-wait", yn(param(type_, p, "ignore_gfp_wait")));
    if (type_ == "failslab") k.emplace_back("cache-filter", yn(param(type_, p, "cache_filter")));
    if (type_ == "fail_page_alloc") {
      k.emplace_back("ignore-gfp-highmem", yn(param(type_, p, "ignore_gfp_highmem")));
      k.emplace_back("min-order", std::to_string(param(type_, p, "min_order")));
    }
    if (type_ == "fail_futex") k.emplace_back("ignore-private", yn(param(type_, p, "ignore_private")));
    return k;
  }

  std::string type_;
  std::string dir_;
  bool task_filter_;
  long long times_written_ = kUnlimitedTimes;
  std::vector<std::string> switches_;
  std::string function_;
};

}  // namespace

void count_sleeping_allocations_for_fail_nth() {
  for (const char* attr : {"failslab", "fail_page_alloc"}) (void)write_text(g_debugfs + "/" + attr + "/ignore-gfp-wait", "N");
}

void set_debugfs_root(const std::string& root) { g_debugfs = root; }
void set_sysfs_root(const std::string& root) { g_sysfs = root; }

AgentResult<std::unique_ptr<Fault>> arm_fault(const json& spec) {
  std::string type = spec.value("type", "");
  const json& p = spec.contains("params") ? spec["params"] : json::object();
  if (is_block_fault_type(type)) return arm_block_fault(spec);
  if (type == "bpf_override") return arm_bpf_override(p);
  const proto::FaultType* known = proto::find_fault_type(type);
  if (!known || !known->debugfs())
    return AgentError{proto::errc::kNotImplemented, "fault type '" + type + "' is not implemented by this agent yet"};
  std::string dir = g_debugfs + "/" + type;
  if (read_text(dir + "/probability").empty())
    return AgentError{proto::errc::kNotAvailable, "this kernel has no " + dir + " (CONFIG for " + type + " off?)"};
  auto f = std::make_unique<AttrFault>(type, dir, param(type, p, "task_filter") != 0);
  if (type == "fail_function") FB_TRY(f->inject_function(p));
  if (auto s = f->configure(p); !s) {
    f->disarm();
    return s.error();
  }
  return std::unique_ptr<Fault>(std::move(f));
}

}  // namespace fb::agent
