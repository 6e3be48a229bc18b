#include "orchestrator/explore/explore.h"

#include "orchestrator/core/printable.h"
#include "protocol/protocol.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <set>
#include <sstream>

namespace fb {

namespace {

struct OutcomeRow {
  Outcome outcome;
  const char* name;
  bool interesting;
};
constexpr OutcomeRow kOutcomeRows[] = {
    {Outcome::KernelCrash, "kernel-crash", true}, {Outcome::Hang, "hang", true},
    {Outcome::Warning, "warning", true},          {Outcome::DataLoss, "data-loss", true},
    {Outcome::Silent, "silent", true},            {Outcome::Handled, "handled", false},
    {Outcome::Pass, "pass", false},               {Outcome::InfraError, "infra-error", false},
    {Outcome::NotRun, "not-run", false},
};

// A TOML basic string: quotes, backslashes and control bytes escaped.
std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
    else if (c < 0x20 || c == 0x7f) out += fmt::format("\\u{:04X}", c);
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

std::string toml_array(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + toml_string(v[i]);
  return out + "]";
}

std::string command_line(const std::vector<std::string>& argv) {
  std::string s;
  for (auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

std::string fault_toml(const Site& site, const std::string& step, bool for_run) {
  std::string t = fmt::format("[[fault]]\nname = \"{}\"\n", kExploreFaultName);
  if (site.kind == Site::Kind::Nth) {
    t += fmt::format("type = \"fail_nth\"\nnth = {}\n", site.nth);
  } else if (site.kind == Site::Kind::Block) {
    // Whoever submits the bio (the step, the filesystem's journal thread, writeback): the k-th
    // bio to the disk while the step runs. should_fail() counts the eligible calls and fails the
    // one where count % interval == 0, i.e. the interval-th; times = 1 stops it there. The
    // count starts at 0 at boot and each run boots a VM of its own.
    t += fmt::format("type = \"fail_make_request\"\ntarget = {}\ntask_filter = false\nprobability = 100\n",
                     toml_string("disk:" + site.disk));
    t += site.always ? "interval = 1\ntimes = -1\n" : fmt::format("interval = {}\ntimes = 1\n", site.request);
  } else {
    t += fmt::format("type = \"fail_function\"\nfunction = {}\nretval = {}\n", toml_string(site.function), site.retval);
    // once: the first call the marked step makes fails; always: every call does.
    t += site.always ? "times = -1\n" : "times = 1\n";
  }
  if (!step.empty()) t += "steps = [" + toml_string(step) + "]\n";
  // A run explore makes is judged by explore; an emitted scenario wants the fault to fire.
  if (for_run) t += "may_not_fire = true\n";
  return t;
}

}  // namespace

const char* to_string(Outcome o) {
  for (auto& r : kOutcomeRows)
    if (r.outcome == o) return r.name;
  return "infra-error";
}

std::optional<Outcome> outcome_named(const std::string& name) {
  for (auto& r : kOutcomeRows)
    if (name == r.name) return r.outcome;
  return std::nullopt;
}

bool interesting(Outcome o) {
  for (auto& r : kOutcomeRows)
    if (r.outcome == o) return r.interesting;
  return false;
}

std::string retval_name(long long retval) {
  if (retval < 0 && retval > -4096) {
    switch (-retval) {  // the errnos explore uses, and the common ones a scenario might
      case ENOMEM: return "-ENOMEM";
      case EIO: return "-EIO";
      case EINVAL: return "-EINVAL";
      case ENOSPC: return "-ENOSPC";
      case EPERM: return "-EPERM";
      case EACCES: return "-EACCES";
      case EFAULT: return "-EFAULT";
      case EAGAIN: return "-EAGAIN";
      case ENOENT: return "-ENOENT";
      case EBUSY: return "-EBUSY";
      default: break;
    }
  }
  return std::to_string(retval);
}

std::vector<long long> retvals_for(const std::string& type) {
  // include/asm-generic/error-injection.h: ERRNO returns an errno, NULL a null pointer, ERRNO_NULL
  // either, TRUE a true bool (should_fail_alloc_page). Three errnos for ERRNO: out of memory
  // (the error every allocation path must take), I/O error (the storage one) and invalid
  // argument (the one validation paths return); more would multiply every run count.
  if (type == "ERRNO") return {-ENOMEM, -EIO, -EINVAL};
  if (type == "ERRNO_NULL") return {0, -ENOMEM};
  if (type == "NULL") return {0};
  if (type == "TRUE") return {1};
  return {};
}

std::string Site::label() const {
  if (kind == Kind::Nth) return fmt::format("nth {}", nth);
  if (kind == Kind::Block)
    return always ? fmt::format("disk {} every request", disk) : fmt::format("disk {} request {}", disk, request);
  return fmt::format("{}={} {}", function, retval_name(retval), always ? "always" : "once");
}

std::string Site::slug() const {
  if (kind == Kind::Nth) return fmt::format("nth-{}", nth);
  // Disk names hold letters, digits, '.', '_' and '-' only (docs/scenarios.md#disks).
  if (kind == Kind::Block)
    return always ? fmt::format("disk-{}-every-request", disk) : fmt::format("disk-{}-request-{}", disk, request);
  std::string r = retval_name(retval);
  if (!r.empty() && r[0] == '-') r = r.substr(1);
  return fmt::format("{}-{}-{}", function, r, always ? "always" : "once");
}

nlohmann::json Site::to_json() const {
  if (kind == Kind::Nth) return {{"kind", "nth"}, {"nth", nth}};
  // `fault` and `variant` are what the report page makes its rows and columns of.
  if (kind == Kind::Block)
    return {{"kind", "block"},
            {"fault", "fail_make_request disk:" + disk},
            {"disk", disk},
            {"request", request},
            {"mode", always ? "always" : "once"},
            {"variant", always ? std::string("every request") : fmt::format("request {}", request)}};
  return {{"kind", "function"},
          {"function", function},
          {"type", type},
          {"retval", retval_name(retval)},
          {"mode", always ? "always" : "once"}};
}

std::vector<ReachedFunction> count_traced_calls(std::string_view trace,
                                                const std::map<std::string, std::string>& injectable) {
  std::map<std::string, std::int64_t> calls;
  std::size_t pos = 0;
  while (pos < trace.size()) {
    std::size_t eol = trace.find('\n', pos);
    if (eol == std::string_view::npos) eol = trace.size();
    std::string_view line = trace.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.empty() || line[0] == '#') continue;
    // "  mkdir-52  [000] ..... 12.345678: should_failslab <-kmem_cache_alloc"
    std::size_t colon = line.find(": ");
    if (colon == std::string_view::npos) continue;
    std::string_view rest = line.substr(colon + 2);
    std::string_view fn = rest.substr(0, rest.find(' '));
    if (auto it = injectable.find(std::string(fn)); it != injectable.end()) ++calls[it->first];
  }
  std::vector<ReachedFunction> out;
  for (auto& [f, n] : calls) out.push_back({f, injectable.at(f), n});
  std::stable_sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.calls > b.calls; });
  return out;
}

Result<SiteSelection> parse_site_kinds(const std::string& list) {
  SiteSelection sel;
  sel.nth = sel.function = false;
  std::stringstream in(list);
  std::string word;
  while (std::getline(in, word, ',')) {
    if (word == "nth") sel.nth = true;
    else if (word == "function") sel.function = true;
    else if (word == "block") sel.block = true;
    else return make_error(ErrorKind::Usage, "--sites: '{}' is not nth, function or block", word);
  }
  if (!sel.nth && !sel.function && !sel.block)
    return make_error(ErrorKind::Usage, "--sites: name at least one of nth, function, block");
  return sel;
}

std::vector<Site> enumerate_sites(const Discovery& d, const SiteSelection& sel) {
  std::vector<Site> out;
  if (sel.nth)
    for (unsigned n = 1; n <= d.nth_sites; ++n) out.push_back(Site{Site::Kind::Nth, n, "", "", 0, false});
  if (sel.function)
    for (auto& f : d.functions) {
      if (!sel.only_functions.empty() &&
          std::find(sel.only_functions.begin(), sel.only_functions.end(), f.function) == sel.only_functions.end())
        continue;
      for (long long rv : retvals_for(f.type)) {
        out.push_back(Site{Site::Kind::Function, 0, f.function, f.type, rv, false});
        if (sel.always) out.push_back(Site{Site::Kind::Function, 0, f.function, f.type, rv, true});
      }
    }
  if (sel.block)
    for (auto& disk : d.disks) {
      for (std::int64_t k = 1; k <= disk.requests(); ++k) out.push_back(Site::block(disk.disk, static_cast<unsigned>(k)));
      if (sel.always && disk.requests() > 0) out.push_back(Site::block_always(disk.disk));
    }
  return out;
}

std::string disk_stat_script(const std::vector<std::string>& disks) {
  // ${VAR#/dev/} is the kernel's name of the disk; /sys/block/<name>/stat its counters since
  // boot, the partitions' I/O included.
  std::string t;
  for (auto& d : disks)
    t += fmt::format("v=${}; echo \"{} $(cat /sys/block/${{v#/dev/}}/stat)\"\n", proto::disk_env_var(d), d);
  return t;
}

std::map<std::string, DiskRequests> parse_disk_stats(std::string_view text) {
  std::map<std::string, DiskRequests> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name;
    if (!(ls >> name)) continue;
    std::vector<std::int64_t> f;
    std::int64_t x = 0;
    while (ls >> x) f.push_back(x);
    // Fields 1-2 reads and read merges, 5-6 writes and write merges (since 2.6), 12-13 discards
    // (4.18), 16 flushes (5.5): a line of fewer than 11 numbers is not a stat line.
    if (f.size() < 11) continue;
    DiskRequests d;
    d.disk = name;
    d.reads = f[0] + f[1];
    d.writes = f[4] + f[5];
    if (f.size() >= 13) d.discards = f[11] + f[12];
    if (f.size() >= 16) d.flushes = f[15];
    out[name] = d;
  }
  return out;
}

Result<std::vector<DiskRequests>> disk_requests_between(const std::vector<std::string>& disks,
                                                        const std::map<std::string, DiskRequests>& before,
                                                        const std::map<std::string, DiskRequests>& after) {
  std::vector<DiskRequests> out;
  for (auto& name : disks) {
    auto b = before.find(name), a = after.find(name);
    if (b == before.end() || a == after.end())
      return make_error(ErrorKind::Infra, "no I/O counters of disk '{}' {} the step", name,
                        b == before.end() ? "before" : "after");
    DiskRequests d;
    d.disk = name;
    d.reads = a->second.reads - b->second.reads;
    d.writes = a->second.writes - b->second.writes;
    d.discards = a->second.discards - b->second.discards;
    d.flushes = a->second.flushes - b->second.flushes;
    if (d.reads < 0 || d.writes < 0 || d.discards < 0 || d.flushes < 0)
      return make_error(ErrorKind::Infra, "the I/O counters of disk '{}' went down during the step", name);
    out.push_back(d);
  }
  return out;
}

std::string scenario_toml(const Workload& w, const std::optional<Site>& site, bool for_run,
                          const std::string& header_comment) {
  std::string t;
  for (std::stringstream in(header_comment); !header_comment.empty();) {
    std::string line;
    if (!std::getline(in, line)) break;
    t += "# " + line + "\n";
  }
  if (!w.scenario.empty()) {  // the user's scenario as written, the explored fault appended
    t += w.scenario_text;
    if (!t.empty() && t.back() != '\n') t += '\n';
    if (site) t += "\n# added by faultbox explore: " + site->label() + "\n" + fault_toml(*site, w.step, for_run);
    return t;
  }
  // A scenario name holds printable characters only: the command's control bytes become spaces.
  std::string name = "explore " + command_line(w.command).substr(0, 200) + (site ? " at " + site->label() : "");
  for (char& ch : name)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
  t += "name = " + toml_string(name) + "\n\n";
  t += fmt::format("[vm]\nmemory = {}\ntimeout = \"{}ms\"\n", w.memory_mb, w.run_timeout.count());
  if (!w.kernel.empty()) t += "kernel = " + toml_string(w.kernel) + "\n";
  t += "\n";
  if (site) t += fault_toml(*site, "", for_run) + "\n";
  t += "[[step]]\nname = " + toml_string(w.step) + "\nrun = " + toml_array(w.command) + "\n";
  return t;
}

std::string errno_message(const std::string& text) {
  static const std::vector<std::string> words = [] {
    std::vector<std::string> v;
    for (int e = 1; e < 134; ++e) {
      std::string s = strerror(e);
      if (s.rfind("Unknown error", 0) != 0) v.push_back(s);
    }
    return v;
  }();
  std::stringstream in(text);
  std::string line;
  while (std::getline(in, line))
    for (auto& w : words)
      if (line.find(w) != std::string::npos) return line;
  return "";
}

Classification classify(const RunObservation& o) {
  using End = RunObservation::End;
  auto first_line = [](const std::string& s) { return s.substr(0, s.find('\n')); };
  switch (o.end) {
    case End::Interrupted: return {Outcome::NotRun, "", "interrupted before the run ended"};
    case End::KernelCrash: return {Outcome::KernelCrash, o.crash_title, "the kernel crashed: " + o.crash_title};
    case End::Hang:
      return {Outcome::Hang, o.crash_title, first_line(o.error.empty() ? "the workload did not end in time" : o.error)};
    case End::Error: return {Outcome::InfraError, "", first_line(o.error)};
    case End::Completed: break;
  }
  if (!o.disk_failures.empty()) return {Outcome::DataLoss, "", first_line(o.disk_failures.front())};
  if (!o.warning_title.empty())
    return {Outcome::Warning, o.warning_title, "the kernel warned and lived: " + o.warning_title};
  if (!o.step_ran)
    return {Outcome::InfraError, "",
            "the explored step did not run" + (o.error.empty() ? std::string() : ": " + first_line(o.error))};
  std::string msg = errno_message(o.step_stderr);
  if (o.fired == 0) {
    // Reached in discovery, not in this run (a site count that varies between runs, or a call the
    // discovery wrapper made itself): said so, so the cell is explained.
    if (o.exit_code == 0 && o.scenario_failures.empty())
      return {Outcome::Pass, "", "the fault did not fire in this run (site not reached): exit 0"};
    std::string why = o.exit_code != 0 ? fmt::format("exit {}", o.exit_code) : o.scenario_failures.front();
    return {Outcome::InfraError, "",
            fmt::format("the workload failed although the fault did not fire ({}): it does not behave the same on every run",
                        first_line(why))};
  }
  if (o.exit_code != 0)
    return {Outcome::Handled, "", fmt::format("exit {}{}", o.exit_code, msg.empty() ? "" : ": " + msg)};
  if (!msg.empty()) return {Outcome::Handled, "", "exit 0, reported: " + msg};
  if (o.scenario_mode && !o.scenario_failures.empty())
    return {Outcome::Handled, "", "the scenario's expectations noticed: " + first_line(o.scenario_failures.front())};
  return {Outcome::Silent, "",
          fmt::format("exit 0 and no error message although the fault fired {} time(s): nobody noticed", o.fired)};
}

nlohmann::json ExploreRun::to_json() const {
  nlohmann::json s = site.to_json();
  if (!stack.empty()) s["stack"] = stack;
  nlohmann::json j = {{"id", id},           {"site", s},         {"outcome", to_string(outcome)},
                      {"fired", fired},     {"duration_s", std::round(duration_s * 1000) / 1000}};
  j["exit_code"] = exit_code ? nlohmann::json(*exit_code) : nlohmann::json(nullptr);
  j["title"] = title.empty() ? nlohmann::json(nullptr) : nlohmann::json(title);
  j["detail"] = detail;
  j["evidence"] = evidence;
  j["group"] = group ? nlohmann::json(*group) : nlohmann::json(nullptr);
  j["scenario"] = scenario.empty() ? nlohmann::json(nullptr) : nlohmann::json(scenario);
  return j;
}

std::vector<ExploreGroup> group_runs(std::vector<ExploreRun>& runs) {
  std::vector<ExploreGroup> groups;
  std::map<std::string, std::size_t> by_key;
  for (auto& r : runs) {
    std::string key;
    if ((r.outcome == Outcome::KernelCrash || r.outcome == Outcome::Warning || r.outcome == Outcome::Hang) &&
        !r.title.empty())
      key = std::string(to_string(r.outcome)) + "\n" + r.title;
    else if (r.outcome == Outcome::Silent && !r.stack.empty()) {
      key = "silent";
      for (auto& f : r.stack) key += "\n" + f;
    } else {
      continue;
    }
    auto [it, fresh] = by_key.emplace(key, groups.size());
    if (fresh) groups.push_back({static_cast<int>(groups.size()) + 1, r.outcome, r.title, r.stack, {}});
    groups[it->second].runs.push_back(r.id);
    r.group = groups[it->second].id;
  }
  return groups;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

std::map<Outcome, int> ExploreReport::counts() const {
  std::map<Outcome, int> c;
  for (auto o : kOutcomes) c[o] = 0;
  for (auto& r : runs) ++c[r.outcome];
  return c;
}

nlohmann::json ExploreReport::to_json() const {
  auto round3 = [](double x) { return std::round(x * 1000) / 1000; };
  nlohmann::json j;
  j["format"] = "faultbox-explore/1";
  j["faultbox_version"] = faultbox_version;
  j["workload"] = {{"command", workload.command},
                   {"scenario", workload.scenario.empty() ? nlohmann::json(nullptr) : nlohmann::json(workload.scenario.string())},
                   {"step", workload.scenario.empty() ? nlohmann::json(nullptr) : nlohmann::json(workload.step)}};
  j["kernel"] = {{"hash", kernel_hash}, {"release", kernel_release}};
  j["accel"] = accel;
  j["started"] = started;
  j["wall_s"] = round3(wall_s);
  j["complete"] = complete;
  if (!complete) j["stopped_because"] = stopped_because;
  nlohmann::json fns = nlohmann::json::array();
  for (auto& f : discovery.functions) fns.push_back({{"function", f.function}, {"type", f.type}, {"calls", f.calls}});
  j["discovery"] = {{"wall_s", round3(discovery.wall_s)}, {"nth_sites", discovery.nth_sites}, {"functions", fns}};
  if (discovery.disks_counted) {
    nlohmann::json disks = nlohmann::json::array();
    for (auto& d : discovery.disks)
      disks.push_back({{"disk", d.disk},
                       {"requests", d.requests()},
                       {"reads", d.reads},
                       {"writes", d.writes},
                       {"discards", d.discards},
                       {"flushes", d.flushes}});
    j["discovery"]["disks"] = disks;
  }
  if (!discovery.notes.empty()) j["discovery"]["notes"] = discovery.notes;
  j["vms"] = {{"booted", vms.booted},
              {"replaced", vms.replaced},
              {"boot_s_median", round3(median(vms.boot_s))},
              {"run_overhead_s_median", round3(median(vms.run_overhead_s))},
              {"jobs", vms.jobs}};
  nlohmann::json c = nlohmann::json::object();
  for (auto& [o, n] : counts()) c[to_string(o)] = n;
  j["counts"] = c;
  j["runs"] = nlohmann::json::array();
  for (auto& r : runs) j["runs"].push_back(r.to_json());
  j["groups"] = nlohmann::json::array();
  for (auto& g : groups)
    j["groups"].push_back(
        {{"id", g.id}, {"outcome", to_string(g.outcome)}, {"title", g.title.empty() ? nlohmann::json(nullptr) : nlohmann::json(g.title)}, {"stack", g.stack}, {"runs", g.runs}});
  return j;
}

namespace {
std::string stack_line(const std::vector<std::string>& stack) {
  std::string s;
  for (std::size_t i = 0; i < stack.size() && i < 4; ++i) s += (i ? " <- " : "") + stack[i];
  return s;
}
}  // namespace

std::string ExploreReport::to_text() const {
  std::string t;
  std::string what = workload.scenario.empty() ? command_line(workload.command)
                                               : workload.scenario.string() + " step " + workload.step;
  t += "faultbox explore: " + printable(what, 300) + "\n";
  t += fmt::format("kernel {} ({}), {}; discovery {:.1f} s: {} fail-nth sites, {} injectable functions reached\n",
                   kernel_release, kernel_hash, accel, discovery.wall_s, discovery.nth_sites,
                   discovery.functions_traced ? std::to_string(discovery.functions.size()) : std::string("unknown"));
  for (auto& d : discovery.disks)
    t += fmt::format("  disk {}: {} block requests ({} reads, {} writes, {} discards, {} flushes)\n", d.disk,
                     d.requests(), d.reads, d.writes, d.discards, d.flushes);
  for (auto& n : discovery.notes) t += "  note: " + n + "\n";
  t += fmt::format("{} runs in {:.1f} s on {} job(s): {} VM(s) booted, {} replaced; boot {:.2f} s, per-run overhead "
                   "{:.2f} s (medians)\n",
                   runs.size(), wall_s, vms.jobs, vms.booted, vms.replaced, median(vms.boot_s),
                   median(vms.run_overhead_s));
  std::string counts_line;
  for (auto& [o, n] : counts()) counts_line += fmt::format("{}{} {}", counts_line.empty() ? "" : ", ", to_string(o), n);
  t += "outcomes: " + counts_line + "\n";
  if (!complete) t += "INCOMPLETE: " + stopped_because + "\n";
  // Crashes, hangs and warnings by group; then silent failures; each with its sites.
  for (Outcome o : {Outcome::KernelCrash, Outcome::Hang, Outcome::Warning, Outcome::DataLoss, Outcome::Silent,
                    Outcome::InfraError}) {
    std::vector<const ExploreRun*> rows;
    for (auto& r : runs)
      if (r.outcome == o) rows.push_back(&r);
    if (rows.empty()) continue;
    t += fmt::format("\n{} ({}):\n", to_string(o), rows.size());
    std::set<int> shown_groups;
    for (auto* r : rows) {
      if (r->group && groups[static_cast<std::size_t>(*r->group - 1)].runs.size() > 1) {
        if (!shown_groups.insert(*r->group).second) continue;
        auto& g = groups[static_cast<std::size_t>(*r->group - 1)];
        std::string sites;
        for (int id : g.runs) sites += (sites.empty() ? "" : ", ") + runs[static_cast<std::size_t>(id - 1)].site.label();
        t += fmt::format("  group {}: {} ({} run(s))\n", g.id, printable(g.title.empty() ? stack_line(g.stack) : g.title, 200),
                         g.runs.size());
        t += "    sites: " + printable(sites, 400) + "\n";
        if (!r->evidence.empty()) t += fmt::format("    evidence: runs/{}/\n", r->id);
        continue;
      }
      t += fmt::format("  run {} {}: {}\n", r->id, r->site.label(), printable(r->detail, 200));
      if (!r->stack.empty()) t += "    at " + printable(stack_line(r->stack), 200) + "\n";
    }
  }
  return t;
}

std::string progress_line(std::size_t done, std::size_t total, const ExploreRun& run,
                          const std::map<Outcome, int>& counts, double eta_s) {
  std::string c;
  for (auto& [o, n] : counts)
    if (n > 0) c += fmt::format("{}{} {}", c.empty() ? "" : " ", to_string(o), n);
  return fmt::format("[{}/{}] {}: {} {:.1f}s | {} | ETA {:.0f}s", done, total, run.site.label(), to_string(run.outcome),
                     run.duration_s, c, eta_s);
}

}  // namespace fb
