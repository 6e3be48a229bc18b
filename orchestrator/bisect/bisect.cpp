#include "orchestrator/bisect/bisect.h"
#include "orchestrator/bisect/tree_worktree.h"

#include "common/clock.h"
#include "common/fd.h"
#include "common/files.h"
#include "common/process.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/kernel_builder.h"
#include "orchestrator/core/log.h"
#include "orchestrator/core/printable.h"
#include "orchestrator/engine/batch.h"
#include "orchestrator/vm/vm.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

namespace fb {

namespace fs = std::filesystem;

namespace {


std::string short_id(const std::string& commit) { return commit.substr(0, 12); }

// The last "roughly N steps" git bisect printed.
int roughly_steps(const std::string& out) {
  auto pos = out.rfind("(roughly ");
  if (pos == std::string::npos) return 0;
  return std::atoi(out.c_str() + pos + 9);
}

}  // namespace

nlohmann::json BisectStep::to_json() const {
  auto runs_json = nlohmann::json::array();
  for (auto& r : run_summaries)
    runs_json.push_back({{"verdict", fb::to_string(r.verdict)}, {"crash_title", r.crash_title}, {"error", r.error}});
  return {{"role", role},       {"commit", commit},   {"subject", subject},           {"verdict", fb::to_string(verdict)},
          {"runs", runs},       {"bad_runs", bad_runs}, {"why", why},                  {"built", built},
          {"build_seconds", build_seconds}, {"run_seconds", run_seconds}, {"run_verdicts", runs_json}};
}

std::optional<BisectStep> BisectStep::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("commit") || !j.contains("verdict")) return std::nullopt;
  BisectStep s;
  s.role = j.value("role", "step");
  s.commit = j.value("commit", "");
  s.subject = j.value("subject", "");
  auto v = j.value("verdict", "");
  s.verdict = v == "good" ? StepVerdict::Good : v == "bad" ? StepVerdict::Bad : StepVerdict::Skip;
  s.runs = j.value("runs", 0);
  s.bad_runs = j.value("bad_runs", 0);
  s.why = j.value("why", "");
  s.built = j.value("built", false);
  s.build_seconds = j.value("build_seconds", 0.0);
  s.run_seconds = j.value("run_seconds", 0.0);
  if (auto it = j.find("run_verdicts"); it != j.end() && it->is_array())
    for (auto& r : *it) {
      RunSummary rs;
      rs.verdict = verdict_named(r.value("verdict", "")).value_or(Verdict::InfraError);
      rs.crash_title = r.value("crash_title", "");
      rs.error = r.value("error", "");
      s.run_summaries.push_back(rs);
    }
  return s;
}

nlohmann::json BisectResult::to_json() const {
  auto steps_json = nlohmann::json::array();
  double miss = 0, all_right = 1;
  for (auto& s : steps) {
    auto j = s.to_json();
    if (s.verdict == StepVerdict::Good && s.role == "step") {
      double c = chance_bad_called_good(bad_rate, s.runs);
      j["chance_bad_called_good"] = c;
      all_right *= 1 - c;
    }
    steps_json.push_back(j);
  }
  miss = 1 - all_right;
  nlohmann::json j = {{"end", end == End::FirstBad ? "first-bad" : end == End::OnlySkipped ? "only-skipped" : "interrupted"},
                      {"bad_on", fb::to_string(oracle.bad_on)},
                      {"title", oracle.title},
                      {"title_regex", oracle.title_regex},
                      {"bad_rate", bad_rate},
                      {"chance_misled", miss},
                      {"steps", steps_json},
                      {"steps_from_log", steps_from_log},
                      {"builds", builds},
                      {"boots", boots},
                      {"seconds", seconds},
                      {"state_dir", state_dir.string()},
                      {"git_bisect_log", git_log}};
  if (end == End::FirstBad) {
    j["first_bad"] = {{"commit", first_bad}, {"subject", first_bad_subject}, {"author", first_bad_author}};
    for (auto& s : steps)
      if (s.commit == first_bad) {
        j["first_bad"]["verdict"] = fb::to_string(s.verdict);
        j["first_bad"]["why"] = s.why;
        break;
      }
  }
  if (end == End::OnlySkipped) j["candidates"] = candidates;
  return j;
}

std::string BisectResult::to_text() const {
  std::string t;
  if (end == End::FirstBad) {
    t += fmt::format("first bad commit: {} {}\n", first_bad, printable(first_bad_subject, 200));
    t += fmt::format("author: {}\n", printable(first_bad_author, 200));
    for (auto& s : steps)
      if (s.commit == first_bad) {
        t += fmt::format("there: {} ({}/{} runs bad)\n", printable(s.why, 300), s.bad_runs, s.runs);
        break;
      }
  } else if (end == End::OnlySkipped) {
    t += "only skipped commits are left: the first bad commit is one of\n";
    for (auto& c : candidates) t += "  " + printable(c, 300) + "\n";
  }
  double all_right = 1;
  for (auto& s : steps)
    if (s.verdict == StepVerdict::Good && s.role == "step") all_right *= 1 - chance_bad_called_good(bad_rate, s.runs);
  if (bad_rate < 1)
    t += fmt::format("flakiness: {:.0f}% of runs at BAD were bad; chance that a good step was really bad: {:.2g}%\n",
                     bad_rate * 100, (1 - all_right) * 100);
  t += fmt::format("spent: {} builds, {} boots, {:.1f} minutes ({} steps from the log)\n", builds, boots, seconds / 60,
                   steps_from_log);
  t += "log: " + (state_dir / "steps.jsonl").string() + " (git bisect log: " + (state_dir / "bisect.log").string() + ")\n";
  return t;
}

Result<BisectResult> run_bisect(const BisectOptions& o) {
  auto t_start = std::chrono::steady_clock::now();
  BisectResult res;
  auto top_r = git_work_tree_top(o.tree, "bisect");
  if (!top_r) return top_r.error();
  const fs::path top = *top_r;
  auto good = resolve_tree_commit(top, o.good, "bisect", "--good");
  if (!good) return good.error();
  auto bad = resolve_tree_commit(top, o.bad, "bisect", "--bad");
  if (!bad) return bad.error();
  if (*good == *bad) return make_error(ErrorKind::Usage, "bisect: --good and --bad are the same commit {}", short_id(*good));
  if (run_git(top, {"merge-base", "--is-ancestor", *good, *bad}).code != 0)
    return make_error(ErrorKind::Usage, "bisect: --good {} is not an ancestor of --bad {}", o.good, o.bad);

  // State: bisect/<tree id>/ holds the worktree, the build dir and the logs (tree_worktree.h).
  auto ws = tree_workspace(top);
  if (!ws) return ws.error();
  const fs::path state = ws->state, wt = ws->worktree;
  res.state_dir = state;
  auto lock = lock_tree_workspace(*ws, false, "bisect");
  if (!lock) return lock.error();
  FB_TRY(prepare_tree_worktree(*ws, *bad, "bisect"));

  // The log: a header naming the session, then one JSON line per decided commit.
  fs::path log_path = state / "steps.jsonl";
  Sha256 key;
  auto scenario_text = read_file(o.scenario);
  if (!scenario_text) return scenario_text.error();
  key.field(*good).field(*bad).field(*scenario_text).field(o.bad_on ? to_string(*o.bad_on) : "default")
      .field(o.title_regex).field(std::to_string(o.repeat));
  std::string session = key.hex().substr(0, 16);
  std::map<std::string, BisectStep> logged;  // by commit
  std::vector<BisectStep> logged_order;
  {
    std::ifstream in(log_path);
    std::string line;
    bool same = false;
    if (!o.fresh && std::getline(in, line)) {
      auto h = nlohmann::json::parse(line, nullptr, false);
      same = h.is_object() && h.value("session", "") == session;
    }
    if (same) {
      while (std::getline(in, line)) {
        auto s = BisectStep::from_json(nlohmann::json::parse(line, nullptr, false));
        if (!s) continue;  // a line cut by a crash of the host: that step is done again
        logged[s->commit] = *s;
        logged_order.push_back(*s);
      }
    } else {
      nlohmann::json h = {{"session", session}, {"tree", top.string()}, {"good", *good}, {"bad", *bad},
                          {"scenario", fs::absolute(o.scenario).string()}, {"repeat", o.repeat}};
      FB_TRY(write_file_atomic(log_path, h.dump() + "\n"));
    }
  }
  if (!logged_order.empty())
    fprintf(o.out, "resuming: %zu commit(s) already decided in %s\n", logged_order.size(), log_path.c_str());
  auto append_log = [&](const BisectStep& s) -> Status {
    std::ofstream out(log_path, std::ios::app);
    out << s.to_json().dump() << "\n";
    out.flush();
    if (!out) return make_error(ErrorKind::Infra, "bisect: cannot append to {}", log_path.string());
    return {};
  };

  int jobs = o.jobs;
  if (jobs <= 0) jobs = std::min(o.repeat, default_jobs(probe_host_capacity(), o.vm_memory_mib, o.vm_cpus, o.repeat).jobs);
  jobs = std::max(1, jobs);

  std::optional<Oracle> oracle;
  bool stopped = false;
  // Decides one commit: from the log, or by checkout, build (cached by commit) and N runs.
  auto evaluate = [&](const std::string& commit, const std::string& role, const std::string& label) -> Result<BisectStep> {
    if (auto it = logged.find(commit); it != logged.end()) {
      res.steps.push_back(it->second);
      ++res.steps_from_log;
      fprintf(o.out, "%s: %s %s (from the log)\n", label.c_str(), short_id(commit).c_str(), to_string(it->second.verdict));
      fflush(o.out);
      return it->second;
    }
    BisectStep s;
    s.role = role;
    s.commit = commit;
    s.subject = run_git(top, {"show", "-s", "--format=%s", commit}).out;
    fprintf(o.out, "%s: %s ", label.c_str(), short_id(commit).c_str());
    fflush(o.out);
    FB_TRY(checkout_tree_commit(*ws, commit, "bisect"));
    KernelBuildOptions ko = tree_kernel_options(commit, &*ws);
    ko.jobs = o.build_jobs;
    ko.cancelled = [] { return interrupted(); };
    std::filesystem::path bz;
    auto cached = find_cached_kernel(ko);
    if (cached && *cached && (*cached)->damage.empty()) {
      bz = (*cached)->bzimage;
      fprintf(o.out, "cached kernel… ");
    } else {
      fprintf(o.out, "building… ");
      fflush(o.out);
      auto t0 = std::chrono::steady_clock::now();
      auto saved = verbosity();
      if (saved == Verbosity::Normal) set_verbosity(Verbosity::Quiet);  // the step line is the progress
      auto k = build_kernel(ko);
      set_verbosity(saved);
      s.build_seconds = seconds_since(t0);
      if (interrupted()) {
        stopped = true;
        return s;
      }
      if (!k) {
        s.verdict = StepVerdict::Skip;
        s.why = "does not build: " + first_line(k.error().message);
        ++res.builds;
      } else {
        bz = k->bzimage;
        s.built = !k->from_cache;
        res.builds += s.built ? 1 : 0;
      }
    }
    if (!bz.empty()) {
      fprintf(o.out, "booting… ");
      fflush(o.out);
      BatchOptions bo;
      bo.runs = expand_runs({o.scenario}, o.repeat);
      bo.slots = {Slot{"local", jobs, {}}};
      bo.worker_head = o.worker_head;
      bo.worker_tail = {"--kernel", bz.string()};
      auto t0 = std::chrono::steady_clock::now();
      auto batch = run_batch(bo);
      s.run_seconds = seconds_since(t0);
      if (!batch) return batch.error();
      for (std::size_t i = 0; i < batch->outcomes.size(); ++i)
        if (i < batch->finished.size() && batch->finished[i]) {
          auto& r = batch->outcomes[i].report;
          s.run_summaries.push_back({r.verdict, r.crash_title, r.error});
          ++res.boots;
        }
      if (interrupted()) {
        stopped = true;
        return s;
      }
    }
    return s;
  };
  // Judges the runs of a step with the oracle and records it.
  auto decide = [&](BisectStep& s) -> Status {
    if (!s.run_summaries.empty()) {
      std::vector<RunJudgement> js;
      for (auto& r : s.run_summaries) js.push_back(judge_run(*oracle, r.verdict, r.crash_title, r.error));
      auto j = judge_step(js);
      s.verdict = j.verdict;
      s.runs = j.runs;
      s.bad_runs = j.bad_runs;
      s.why = j.why;
    }
    std::string tail = fmt::format("{} ({})", to_string(s.verdict), printable(s.why, 200));
    if (o.repeat > 1) tail += fmt::format(" [{}/{} runs bad]", s.bad_runs, s.runs);
    if (s.verdict == StepVerdict::Good && o.repeat >= 1 && res.bad_rate < 1 && s.role == "step")
      tail += fmt::format(" (a bad commit passes {} runs with chance {:.2g}%)", s.runs,
                          chance_bad_called_good(res.bad_rate, s.runs) * 100);
    fprintf(o.out, "%s\n", tail.c_str());
    fflush(o.out);
    res.steps.push_back(s);
    return append_log(s);
  };
  auto finish_interrupted = [&]() {
    fprintf(o.out, "interrupted\n");
    fflush(o.out);
    res.end = BisectResult::End::Interrupted;
    res.seconds = seconds_since(t_start);
    return res;
  };

  // 1. BAD must be bad: its runs also say what "bad" means (the oracle) and how often.
  auto bad_step = evaluate(*bad, "bad-check", "check --bad");
  if (!bad_step) return bad_step.error();
  if (stopped) return finish_interrupted();
  bool bad_from_log = logged.count(*bad) > 0;
  if (bad_step->run_summaries.empty() && !bad_from_log) {
    fprintf(o.out, "skip (%s)\n", printable(bad_step->why, 200).c_str());
    return make_error(ErrorKind::Usage, "bisect: --bad {} cannot be tested: {}", o.bad, bad_step->why);
  }
  auto orc = oracle_from_bad(bad_step->run_summaries, o.bad_on, o.title_regex);
  if (!orc) {
    if (!bad_from_log) fprintf(o.out, "good\n");
    return make_error(ErrorKind::Usage, "bisect: --bad {} is not bad: {} ({} runs)", o.bad, orc.error().message,
                      bad_step->run_summaries.size());
  }
  oracle = *orc;
  res.oracle = *orc;
  if (!bad_from_log) FB_TRY(decide(*bad_step));
  else {  // judged again: the same rules, the same runs
    std::vector<RunJudgement> js;
    for (auto& r : bad_step->run_summaries) js.push_back(judge_run(*oracle, r.verdict, r.crash_title, r.error));
    auto j = judge_step(js);
    bad_step->verdict = j.verdict;
    bad_step->runs = j.runs;
    bad_step->bad_runs = j.bad_runs;
  }
  if (bad_step->verdict != StepVerdict::Bad)
    return make_error(ErrorKind::Usage, "bisect: --bad {} is not bad by --bad-on {}{}: {}", o.bad, to_string(oracle->bad_on),
                      o.title_regex.empty() ? "" : " --title " + o.title_regex, bad_step->why);
  res.bad_rate = bad_step->runs ? double(bad_step->bad_runs) / bad_step->runs : 0;

  // 2. GOOD must be good.
  auto good_step = evaluate(*good, "good-check", "check --good");
  if (!good_step) return good_step.error();
  if (stopped) return finish_interrupted();
  if (!logged.count(*good)) FB_TRY(decide(*good_step));
  if (good_step->verdict != StepVerdict::Good)
    return make_error(ErrorKind::Usage, "bisect: --good {} is not good: {} ({}/{} runs bad)", o.good,
                      good_step->why, good_step->bad_runs, good_step->runs);

  // 3. git bisect, without checkout: BISECT_HEAD names the next commit; only a commit that is
  // built gets checked out, so make sees only what changed since the last build.
  auto g = run_git(wt, {"bisect", "start", "--no-checkout", *bad, *good});
  if (g.code != 0) return make_error(ErrorKind::Infra, "bisect: git bisect start: {}", first_line(g.out));
  int step_no = 0;
  for (auto& s : res.steps) step_no += s.role == "step";
  for (;;) {
    std::string out = g.out;
    if (auto pos = out.find(" is the first bad commit"); pos != std::string::npos) {
      auto start = out.rfind('\n', pos);
      res.first_bad = out.substr(start == std::string::npos ? 0 : start + 1, pos - (start == std::string::npos ? 0 : start + 1));
      auto info = run_git(top, {"show", "-s", "--format=%s%n%an <%ae>", res.first_bad});
      res.first_bad_subject = first_line(info.out);
      res.first_bad_author = info.out.substr(std::min(info.out.size(), res.first_bad_subject.size() + 1));
      res.end = BisectResult::End::FirstBad;
      break;
    }
    if (auto pos = out.find("could be any of:"); pos != std::string::npos) {
      std::istringstream lines(out.substr(pos + 16));
      std::string line;
      while (std::getline(lines, line))
        if (!line.empty() && line.find("We cannot bisect more") == std::string::npos)
          res.candidates.push_back(first_line(run_git(top, {"log", "-1", "--format=%H %s", line}).out));
      res.end = BisectResult::End::OnlySkipped;
      break;
    }
    auto head = run_git(wt, {"rev-parse", "--verify", "BISECT_HEAD"});
    if (head.code != 0) return make_error(ErrorKind::Infra, "bisect: git bisect said: {}", first_line(out));
    ++step_no;
    std::string label = fmt::format("step {}/~{}", step_no, step_no + roughly_steps(out));
    auto s = evaluate(head.out, "step", label);
    if (!s) return s.error();
    if (stopped) return finish_interrupted();
    if (!logged.count(head.out)) FB_TRY(decide(*s));
    g = run_git(wt, {"bisect", to_string(s->verdict), head.out});
    FB_TRY(write_file_atomic(state / "bisect.log", run_git(wt, {"bisect", "log"}).out + "\n"));
  }
  res.git_log = run_git(wt, {"bisect", "log"}).out;
  FB_TRY(write_file_atomic(state / "bisect.log", res.git_log + "\n"));
  run_git(wt, {"bisect", "reset", "HEAD"});
  res.seconds = seconds_since(t_start);
  return res;
}

}  // namespace fb
