#include "orchestrator/engine/batch.h"

#include "common/clock.h"
#include "common/files.h"
#include "common/temp_dir.h"
#include "orchestrator/core/printable.h"
#include "orchestrator/vm/session.h"

#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <poll.h>
#include <sched.h>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace fb {

namespace fs = std::filesystem;
using nlohmann::json;

SlotPool::SlotPool(std::vector<Slot> slots) : slots_(std::move(slots)), used_(slots_.size(), 0) {}

std::optional<std::size_t> SlotPool::acquire() {
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    int room = slots_[i].capacity - used_[i];
    if (room > 0 && (!best || room > slots_[*best].capacity - used_[*best])) best = i;
  }
  if (best) ++used_[*best];
  return best;
}

void SlotPool::release(std::size_t slot) {
  if (slot < used_.size() && used_[slot] > 0) --used_[slot];
}

int SlotPool::capacity() const {
  int n = 0;
  for (auto& s : slots_) n += s.capacity;
  return n;
}

int SlotPool::busy() const {
  int n = 0;
  for (int u : used_) n += u;
  return n;
}

std::vector<BatchRun> expand_runs(const std::vector<fs::path>& files, int repeat) {
  std::vector<BatchRun> runs;
  for (auto& f : files)
    for (int k = 1; k <= repeat; ++k) runs.push_back({f.stem().string(), f, k});
  return runs;
}

namespace {

std::string last_line_of(const std::string& text, std::string_view prefix = {}) {
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty() && line.rfind(prefix, 0) == 0) last = line;
  return last;
}

}  // namespace

RunOutcome outcome_without_report(const ExitStatus& status, const std::string& worker_stderr) {
  RunOutcome o;
  o.report.verdict = Verdict::InfraError;
  if (status.exited_normally())
    for (auto& row : kVerdicts)
      if (row.exit_code == status.code) o.report.verdict = row.verdict;
  if (o.report.verdict == Verdict::Pass) o.report.verdict = Verdict::InfraError;  // a pass writes its report
  std::string said = last_line_of(worker_stderr, "faultbox: ");
  if (said.empty()) said = last_line_of(worker_stderr);
  if (said.rfind("faultbox: ", 0) == 0) said.erase(0, 10);
  o.report.error = fmt::format("the run wrote no report ({}){}", status.describe(), said.empty() ? "" : ": " + said);
  return o;
}

std::string progress_line(std::size_t done, std::size_t total, const BatchRun& run, const RunOutcome& o) {
  return printable(fmt::format("[{}/{}] {} #{} {} {:.1f}s", done, total, run.label, run.repeat, to_string(o.verdict()),
                               o.report.seconds),
                   std::string::npos, TextLayout::Lines);
}

Verdict BatchResult::verdict() const {
  Verdict v = Verdict::Pass;
  for (std::size_t i = 0; i < outcomes.size(); ++i)
    if (finished[i]) v = worst(v, outcomes[i].verdict());
  return v;
}

namespace {

struct ScenarioTally {
  std::string label;
  fs::path file;
  int runs = 0;
  std::map<Verdict, int> by_verdict;
  std::vector<std::pair<std::string, int>> crash_titles;  // distinct, in order of first sight
};

std::vector<ScenarioTally> tally(const BatchResult& b) {
  std::vector<ScenarioTally> out;
  for (std::size_t i = 0; i < b.runs.size(); ++i) {
    if (!b.finished[i]) continue;
    auto it = std::find_if(out.begin(), out.end(), [&](auto& t) { return t.file == b.runs[i].file; });
    if (it == out.end()) it = out.insert(out.end(), ScenarioTally{b.runs[i].label, b.runs[i].file, 0, {}, {}});
    ++it->runs;
    ++it->by_verdict[b.outcomes[i].verdict()];
    if (auto& title = b.outcomes[i].report.crash_title; !title.empty()) {
      auto t = std::find_if(it->crash_titles.begin(), it->crash_titles.end(), [&](auto& p) { return p.first == title; });
      if (t == it->crash_titles.end()) it->crash_titles.emplace_back(title, 1);
      else ++t->second;
    }
  }
  return out;
}

}  // namespace

std::string BatchResult::summary() const {
  auto tallies = tally(*this);
  std::size_t width = 8;
  for (auto& t : tallies) width = std::max(width, t.label.size());
  std::string out = fmt::format("{:<{}}  {:>4}", "scenario", width, "runs");
  for (auto& row : kVerdicts) out += fmt::format("  {:>5}", row.name);
  out += "\n";
  for (auto& t : tallies) {
    out += fmt::format("{:<{}}  {:>4}", t.label, width, t.runs);
    for (auto& row : kVerdicts) {
      auto it = t.by_verdict.find(row.verdict);
      out += fmt::format("  {:>{}}", it == t.by_verdict.end() ? 0 : it->second, std::max<std::size_t>(5, strlen(row.name)));
    }
    out += "\n";
    for (auto& [title, n] : t.crash_titles) out += fmt::format("    crash ({} run{}): {}\n", n, n == 1 ? "" : "s", title);
  }
  std::size_t done = std::count(finished.begin(), finished.end(), true);
  out += fmt::format("verdict: {} ({} run{}, --jobs {}, {:.1f} s)\n", to_string(verdict()), done, done == 1 ? "" : "s",
                     jobs, seconds);
  return printable(out, std::string::npos, TextLayout::Lines);
}

json BatchResult::to_json() const {
  json j = {{"verdict", to_string(verdict())}, {"exit_code", exit_code_of(verdict())}, {"jobs", jobs}, {"seconds", seconds}};
  j["summary"] = json::array();
  for (auto& t : tally(*this)) {
    json s = {{"scenario", t.label}, {"file", t.file.string()}, {"runs", t.runs}};
    for (auto& row : kVerdicts) {
      auto it = t.by_verdict.find(row.verdict);
      s[row.name] = it == t.by_verdict.end() ? 0 : it->second;
    }
    s["crash_titles"] = json::array();
    for (auto& [title, n] : t.crash_titles) s["crash_titles"].push_back({{"title", title}, {"runs", n}});
    j["summary"].push_back(s);
  }
  j["runs"] = json::array();
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (!finished[i]) continue;
    auto& o = outcomes[i];
    j["runs"].push_back({{"scenario", runs[i].label},
                         {"file", runs[i].file.string()},
                         {"repeat", runs[i].repeat},
                         {"slot", o.slot},
                         {"verdict", to_string(o.verdict())},
                         {"seconds", o.report.seconds},
                         {"evidence", o.evidence.empty() ? json(nullptr) : json(o.evidence.string())},
                         {"error", o.report.error},
                         {"report", o.report_json}});
  }
  return j;
}

std::string BatchResult::to_junit() const {
  std::string suites;
  int tests = 0, failures = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (!finished[i]) continue;
    const RunReport& r = outcomes[i].report;
    RunReport shown = r;
    if (shown.scenario.empty()) shown.scenario = runs[i].label;  // a worker without a report
    suites += shown.to_junit_suite(fmt::format("{} #{}", runs[i].label, runs[i].repeat));
    tests += static_cast<int>(r.steps.size()) + 1;
    failures += (r.verdict != Verdict::Pass) +
                static_cast<int>(std::count_if(r.steps.begin(), r.steps.end(), [](auto& s) { return !s.failures.empty(); }));
  }
  return fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"faultbox run\" tests=\"{}\" "
                     "failures=\"{}\" time=\"{:.3f}\">\n{}</testsuites>\n",
                     tests, failures, seconds, suites);
}

namespace {

// How long an interrupted worker has to tear its VM down before it is killed.
constexpr auto kWorkerTeardownGrace = std::chrono::seconds(30);

// One worker in flight: its process and where its report and output go.
struct Worker {
  std::size_t run = 0;
  std::size_t slot = 0;
  ChildProcess process;
  fs::path json, out, err;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

Result<Worker> start_worker(const BatchOptions& o, const SlotPool& pool, std::size_t run, std::size_t slot,
                            const fs::path& dir) {
  const BatchRun& br = o.runs[run];
  Worker w;
  w.run = run;
  w.slot = slot;
  std::string stem = fmt::format("run-{}", run);
  w.json = dir / (stem + ".json");
  w.out = dir / (stem + ".out");
  w.err = dir / (stem + ".err");
  std::vector<std::string> argv = o.worker_head;
  argv.push_back(br.file.string());
  argv.insert(argv.end(), {"--json", w.json.string()});
  if (!o.keep_dir.empty())
    argv.insert(argv.end(), {"--keep-artifacts", (o.keep_dir / fmt::format("{}-{}", br.label, br.repeat)).string()});
  argv.insert(argv.end(), o.worker_tail.begin(), o.worker_tail.end());
  auto& extra = pool.slot(slot).worker_args;
  argv.insert(argv.end(), extra.begin(), extra.end());
  Fd out(open(w.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  Fd err(open(w.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out || !err) return make_error(ErrorKind::Infra, "cannot create a worker's output file in {}: {}", dir.string(), strerror(errno));
  SpawnOptions so;
  so.stdout_fd = out.get();
  so.stderr_fd = err.get();
  // The worker stays in our process group, so a terminal's Ctrl-C reaches every worker at once
  // (each tears its own VM down); it dies with us if we are killed.
  so.new_process_group = false;
  so.die_with_parent = true;
  auto child = ChildProcess::spawn(argv, so);
  if (!child) return child.error();
  w.process = std::move(*child);
  return w;
}

RunOutcome collect(const BatchOptions& o, Worker& w, const ExitStatus& status, const std::string& slot_name) {
  auto err_text = read_file(w.err), out_text = read_file(w.out);
  std::string err = err_text ? *err_text : std::string(), out = out_text ? *out_text : std::string();
  RunOutcome outcome = outcome_without_report(status, err);
  outcome.report.seconds = seconds_since(w.started);  // the worker's own time, without a report of it
  if (auto text = read_file(w.json)) {
    json j = json::parse(*text, nullptr, false);
    if (auto report = report_from_json(j)) {  // a discarded parse is no object: refused there
      outcome.has_report = true;
      outcome.report = std::move(*report);
      outcome.report_json = std::move(j);
    }
  }
  // The worker names its evidence dir on its last line of output (docs/exit-codes.md).
  if (std::string line = last_line_of(out, "evidence: "); !line.empty()) outcome.evidence = line.substr(10);
  else if (!o.keep_dir.empty())
    outcome.evidence = o.keep_dir / fmt::format("{}-{}", o.runs[w.run].label, o.runs[w.run].repeat);
  // What the worker said on stderr (the accelerator, the boot, its errors) belongs with its evidence.
  if (!outcome.evidence.empty() && fs::is_directory(outcome.evidence))
    (void)write_file_atomic(outcome.evidence / "faultbox.log", err);
  outcome.slot = slot_name;
  return outcome;
}

}  // namespace

Result<BatchResult> run_batch(const BatchOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  BatchResult b;
  b.runs = o.runs;
  b.outcomes.resize(o.runs.size());
  b.finished.assign(o.runs.size(), false);
  SlotPool pool(o.slots);
  b.jobs = pool.capacity();
  if (b.jobs < 1) return make_error(ErrorKind::Usage, "no slot to run on");
  auto root = runtime_root();
  if (!root) return root.error();
  // The workers' reports and output until they are merged; the janitor removes it even if we are killed.
  auto dir = TempDir::create(*root, "batch-", /*janitor=*/true);
  if (!dir) return dir.error();
  std::vector<Worker> running;
  std::size_t next = 0, done = 0;
  bool forwarded = false;
  std::chrono::steady_clock::time_point forwarded_at;
  std::optional<Error> failure;
  while (next < o.runs.size() || !running.empty()) {
    while (!interrupted() && !failure && next < o.runs.size()) {
      auto slot = pool.acquire();
      if (!slot) break;
      auto w = start_worker(o, pool, next, *slot, dir->path());
      if (!w) {
        pool.release(*slot);
        failure = w.error();
        break;
      }
      ++next;
      running.push_back(std::move(*w));
    }
    if (running.empty()) break;
    if (interrupted() && !forwarded) {
      // The terminal's Ctrl-C reached the workers already; a signal sent to us alone did not.
      for (auto& w : running) w.process.signal(interrupt_signal());
      forwarded = true;
      forwarded_at = std::chrono::steady_clock::now();
    } else if (forwarded && std::chrono::steady_clock::now() - forwarded_at > kWorkerTeardownGrace) {
      // A worker that does not end on the signal is killed; its VM and dirs go with it
      // (PDEATHSIG, janitors).
      for (auto& w : running) w.process.kill();
    }
    std::vector<pollfd> fds;
    for (auto& w : running) fds.push_back({w.process.pidfd(), POLLIN, 0});
    (void)poll(fds.data(), fds.size(), 200);
    for (std::size_t i = 0; i < running.size();) {
      auto st = running[i].process.try_wait();
      if (!st) {
        ++i;
        continue;
      }
      Worker w = std::move(running[i]);
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
      pool.release(w.slot);
      if (interrupted()) continue;  // torn down on the user's word: no verdict, no evidence
      b.outcomes[w.run] = collect(o, w, *st, pool.slot(w.slot).name);
      b.finished[w.run] = true;
      ++done;
      if (o.on_finished) o.on_finished(done, o.runs[w.run], b.outcomes[w.run]);
    }
  }
  b.seconds = seconds_since(t0);
  if (failure) return *failure;
  return b;
}

HostCapacity probe_host_capacity() {
  HostCapacity h;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) h.cores = std::max(1, CPU_COUNT(&set));
  else h.cores = std::max(1u, std::thread::hardware_concurrency());
  if (auto meminfo = read_file("/proc/meminfo")) {
    std::istringstream in(*meminfo);
    std::string key;
    std::uint64_t kib = 0;
    std::string unit;
    while (in >> key >> kib) {
      std::getline(in, unit);
      if (key == "MemAvailable:") h.mem_available_mib = kib / 1024;
    }
  }
  return h;
}

JobsChoice default_jobs(const HostCapacity& host, int vm_memory_mib, int vm_cpus, std::size_t runs) {
  int per_vm = vm_memory_mib + kQemuOverheadMib;
  int by_cores = std::max(1, host.cores / std::max(1, vm_cpus));
  int by_memory = std::max<int>(1, static_cast<int>(host.mem_available_mib / static_cast<std::uint64_t>(std::max(1, per_vm))));
  int jobs = std::min(by_cores, by_memory);
  std::string limit = by_cores <= by_memory ? "cores" : "memory";
  if (runs > 0 && static_cast<std::size_t>(jobs) > runs) {
    jobs = static_cast<int>(runs);
    limit = "runs";
  }
  return {jobs, fmt::format("jobs: {} at once (limited by {}: {} core(s) / {} vCPU(s) per VM = {}; {} MiB available / "
                            "{} MiB per VM = {}; {} run(s); --jobs N to choose)",
                            jobs, limit, host.cores, vm_cpus, by_cores, host.mem_available_mib, per_vm, by_memory, runs)};
}

}  // namespace fb
