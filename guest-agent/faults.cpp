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

}  // namespace

std::string resolve_disk_target(const std::string& target, std::string& err) {
  return disk_target_dir(g_sysfs, target, err);
}

const std::string& sysfs_root() { return g_sysfs; }

namespace {

// A debugfs fault attribute (failslab, fail_page_alloc, fail_function, ...), optionally tied to
// devices through their make-it-fail or io-timeout-fail switch.
class AttrFault : public Fault {
 public:
  AttrFault(std::string dir, bool task_filter) : dir_(std::move(dir)), task_filter_(task_filter) {}

  bool set(const std::string& file, const std::string& value, ArmError& error) {
    std::string err;
    if (!write_text(dir_ + "/" + file, value, err)) {
      error = {proto::errc::kArmFailed, err};
      return false;
    }
    return true;
  }

  bool add_switch(const std::string& path, ArmError& error) {
    std::string err;
    if (!write_text(path, "1", err)) {
      error = {proto::errc::kArmFailed, err};
      return false;
    }
    switches_.push_back(path);
    return true;
  }

  void set_function(std::string fn) { function_ = std::move(fn); }

  json counters() override {
    json c;
    std::string t = read_text(dir_ + "/times");
    long long left = t.empty() ? kUnlimitedTimes : std::stoll(t);
    c["fired"] = times_written_ - left;
    c["times_left"] = left;
    return c;
  }

  void disarm() override {
    std::string err;
    for (auto& s : switches_) write_text(s, "0", err);
    switches_.clear();
    if (!function_.empty()) {
      write_text(dir_ + "/inject", "!" + function_, err);
      function_.clear();
    }
    write_text(dir_ + "/probability", "0", err);
    if (task_filter_) write_text(dir_ + "/task-filter", "N", err);
  }

  bool needs_task_mark() const override { return task_filter_; }

  long long times_written_ = kUnlimitedTimes;

 private:
  std::string dir_;
  bool task_filter_;
  std::vector<std::string> switches_;
  std::string function_;
};

std::string yn(bool b) { return b ? "Y" : "N"; }

// A parameter as the request gives it, else the registry's default (protocol/fault_types.h): the
// host's plan fills defaults in already; this keeps an older or hand-made request to the same.
long long param(const std::string& type, const json& p, const char* key) {
  const json* v = p.contains(key) ? &p[key] : nullptr;
  if (v && v->is_boolean()) return v->get<bool>() ? 1 : 0;
  if (v && v->is_number_integer()) return v->get<long long>();
  return proto::param_default(type, key);
}

}  // namespace

void set_debugfs_root(const std::string& root) { g_debugfs = root; }
void set_sysfs_root(const std::string& root) { g_sysfs = root; }

std::unique_ptr<Fault> arm_fault(const json& spec, ArmError& error) {
  std::string type = spec.value("type", "");
  const json& p = spec.contains("params") ? spec["params"] : json::object();
  if (is_block_fault_type(type)) return arm_block_fault(spec, error);
  if (type == "bpf_override") return arm_bpf_override(p, error);
  const proto::FaultType* known = proto::find_fault_type(type);
  if (!known || !known->debugfs()) {
    error = {proto::errc::kNotImplemented, "fault type '" + type + "' is not implemented by this agent yet"};
    return nullptr;
  }
  std::string dir = g_debugfs + "/" + type;
  if (read_text(dir + "/probability").empty()) {
    error = {proto::errc::kNotAvailable, "this kernel has no " + dir + " (CONFIG for " + type + " off?)"};
    return nullptr;
  }
  bool task_filter = param(type, p, "task_filter") != 0;
  auto f = std::make_unique<AttrFault>(dir, task_filter);

  // fail_function: the function must be injectable in this kernel; checked before anything
  // is written so a refused fault leaves nothing armed.
  if (type == "fail_function") {
    std::string fn = p.value("function", "");
    std::ifstream inj(dir + "/injectable");
    std::string line, kind;
    bool ok = false;
    while (std::getline(inj, line)) {
      std::istringstream ls(line);
      std::string name, k;
      ls >> name >> k;
      if (name == fn) {
        ok = true;
        kind = k;
      }
    }
    if (!ok) {
      error = {proto::errc::kNotInjectable, "'" + fn + "' is not in " + dir +
                                     "/injectable: the kernel allows error injection only into functions marked "
                                     "ALLOW_ERROR_INJECTION"};
      return nullptr;
    }
    if (!f->set("inject", fn, error)) return nullptr;
    f->set_function(fn);
    long long def = kind == "TRUE" ? 1 : kind == "NULL" ? 0 : -12;
    // The retval file parses an unsigned 64-bit number: a negative errno goes in as its two's
    // complement (what `printf %#x -12` gives in the kernel's own docs).
    char hex[32];
    snprintf(hex, sizeof hex, "%#llx", static_cast<unsigned long long>(p.value("retval", def)));
    if (!f->set(fn + "/retval", hex, error)) {
      f->disarm();
      return nullptr;
    }
  }
  long long times = param(type, p, "times");
  f->times_written_ = times < 0 ? kUnlimitedTimes : times;
  struct Knob {
    const char* file;
    std::string value;
  };
  std::vector<Knob> knobs = {
      {"interval", std::to_string(param(type, p, "interval"))},
      {"space", std::to_string(param(type, p, "space"))},
      {"verbose", std::to_string(param(type, p, "verbose"))},
      {"task-filter", yn(task_filter)},
      {"times", std::to_string(f->times_written_)},
  };
  if (type == "failslab" || type == "fail_page_alloc")
    knobs.push_back({"ignore-gfp-wait", yn(param(type, p, "ignore_gfp_wait"))});
  if (type == "failslab") knobs.push_back({"cache-filter", yn(param(type, p, "cache_filter"))});
  if (type == "fail_page_alloc") {
    knobs.push_back({"ignore-gfp-highmem", yn(param(type, p, "ignore_gfp_highmem"))});
    knobs.push_back({"min-order", std::to_string(param(type, p, "min_order"))});
  }
  if (type == "fail_futex") knobs.push_back({"ignore-private", yn(param(type, p, "ignore_private"))});
  for (auto& k : knobs)
    if (!f->set(k.file, k.value, error)) {
      f->disarm();
      return nullptr;
    }
  if (type == "fail_make_request" || type == "fail_io_timeout") {
    std::string err;
    std::string dev = resolve_disk_target(p.value("target", ""), err);
    if (dev.empty()) {
      f->disarm();
      error = {proto::errc::kBadTarget, err};
      return nullptr;
    }
    if (!f->add_switch(dev + (type == "fail_make_request" ? "/make-it-fail" : "/io-timeout-fail"), error)) {
      f->disarm();
      return nullptr;
    }
  }
  // Probability last: the fault is live only once every other knob is in place.
  if (!f->set("probability", std::to_string(param(type, p, "probability")), error)) {
    f->disarm();
    return nullptr;
  }
  return f;
}

}  // namespace fb::agent
