// `faultbox explore`'s pure parts (orchestrator/explore/explore.h): which runs a discovery makes,
// how each run is classified and grouped, the scenario each run (and each emitted file) is, and
// the explore.json shape the HTML page reads.
#include "orchestrator/explore/explore.h"

#include <catch2/catch.hpp>

#include <cerrno>

using namespace fb;

namespace {

Discovery discovery(unsigned nth, std::vector<ReachedFunction> fns) {
  Discovery d;
  d.nth_sites = nth;
  d.functions = std::move(fns);
  d.functions_traced = true;
  return d;
}

Workload bare(std::vector<std::string> cmd) {
  Workload w;
  w.command = std::move(cmd);
  w.step = "workload";
  return w;
}

RunObservation completed(int exit_code, std::int64_t fired, std::string err = "") {
  RunObservation o;
  o.end = RunObservation::End::Completed;
  o.step_ran = true;
  o.exit_code = exit_code;
  o.fired = fired;
  o.step_stderr = std::move(err);
  return o;
}

ExploreRun run(int id, Outcome o, std::string title = "", std::vector<std::string> stack = {}) {
  ExploreRun r;
  r.id = id;
  r.site = Site{Site::Kind::Nth, static_cast<unsigned>(id), "", "", 0, false};
  r.outcome = o;
  r.title = std::move(title);
  r.stack = std::move(stack);
  return r;
}

}  // namespace

TEST_CASE("explore: each injectable type gets the return values its callers can take") {
  CHECK(retvals_for("ERRNO") == std::vector<long long>{-ENOMEM, -EIO, -EINVAL});
  CHECK(retvals_for("ERRNO_NULL") == std::vector<long long>{0, -ENOMEM});
  CHECK(retvals_for("NULL") == std::vector<long long>{0});
  CHECK(retvals_for("TRUE") == std::vector<long long>{1});
  CHECK(retvals_for("SOMETHING_NEW").empty());
  CHECK(retval_name(-ENOMEM) == "-ENOMEM");
  CHECK(retval_name(-EIO) == "-EIO");
  CHECK(retval_name(1) == "1");
}

TEST_CASE("explore: the sites are every nth, then every reached function with its type's values") {
  auto d = discovery(3, {{"should_failslab", "ERRNO", 12}, {"should_fail_alloc_page", "TRUE", 4}});
  auto all = enumerate_sites(d, SiteSelection{});
  REQUIRE(all.size() == 3 + 3 + 1);
  CHECK(all[0].label() == "nth 1");
  CHECK(all[2].label() == "nth 3");
  CHECK(all[3].label() == "should_failslab=-ENOMEM once");
  CHECK(all[6].label() == "should_fail_alloc_page=1 once");
  CHECK(all[6].slug() == "should_fail_alloc_page-1-once");

  SiteSelection fn_only;
  fn_only.nth = false;
  fn_only.always = true;
  fn_only.only_functions = {"should_fail_alloc_page"};
  auto some = enumerate_sites(d, fn_only);
  REQUIRE(some.size() == 2);
  CHECK(some[0].label() == "should_fail_alloc_page=1 once");
  CHECK(some[1].label() == "should_fail_alloc_page=1 always");

  CHECK(parse_site_kinds("nth").value().function == false);
  CHECK(!parse_site_kinds("nth,bogus").ok());
  CHECK(!parse_site_kinds("block").ok());  // refused with a reason, not silently ignored
}

TEST_CASE("explore: the function trace is counted per injectable function, others ignored") {
  std::map<std::string, std::string> inj = {{"should_failslab", "ERRNO"}, {"__x64_sys_mkdir", "ERRNO"}};
  std::string trace =
      "# tracer: function\n#\n"
      "           mkdir-52      [000] .....    12.345678: __x64_sys_mkdir <-do_syscall_64\n"
      "           mkdir-52      [000] .....    12.345680: should_failslab <-kmem_cache_alloc\n"
      "           mkdir-52      [000] .....    12.345690: should_failslab <-kmem_cache_alloc_lru\n"
      "           mkdir-52      [000] .....    12.345699: vfs_mkdir <-do_mkdirat\n"
      "garbage without the separator\n";
  auto got = count_traced_calls(trace, inj);
  REQUIRE(got.size() == 2);
  CHECK(got[0].function == "should_failslab");
  CHECK(got[0].calls == 2);
  CHECK(got[1].function == "__x64_sys_mkdir");
  CHECK(got[1].calls == 1);
  CHECK(got[1].type == "ERRNO");
}

TEST_CASE("explore: every way a run ends has one outcome and a detail that explains it") {
  using End = RunObservation::End;
  RunObservation crash;
  crash.end = End::KernelCrash;
  crash.crash_title = "BUG: kernel NULL pointer dereference in foo";
  auto c = classify(crash);
  CHECK(c.outcome == Outcome::KernelCrash);
  CHECK(c.title == crash.crash_title);

  RunObservation hang;
  hang.end = End::Hang;
  hang.error = "step workload: timed out";
  CHECK(classify(hang).outcome == Outcome::Hang);

  RunObservation infra;
  infra.end = End::Error;
  infra.error = "agent went away";
  CHECK(classify(infra).outcome == Outcome::InfraError);

  RunObservation stopped;
  stopped.end = End::Interrupted;
  CHECK(classify(stopped).outcome == Outcome::NotRun);

  // Not fired: a pass that says so, or (the workload failed anyway) not a verdict on the fault.
  auto quiet = classify(completed(0, 0));
  CHECK(quiet.outcome == Outcome::Pass);
  CHECK(quiet.detail.find("did not fire") != std::string::npos);
  CHECK(classify(completed(1, 0)).outcome == Outcome::InfraError);

  auto handled = classify(completed(1, 1, "mkdir: can't create directory '/tmp/x': Cannot allocate memory\n"));
  CHECK(handled.outcome == Outcome::Handled);
  CHECK(handled.detail.find("Cannot allocate memory") != std::string::npos);
  CHECK(classify(completed(0, 1, "warning: Input/output error, retried\n")).outcome == Outcome::Handled);
  auto silent = classify(completed(0, 1));
  CHECK(silent.outcome == Outcome::Silent);

  auto warned = completed(0, 1);
  warned.warning_title = "WARNING in foo";
  CHECK(classify(warned).outcome == Outcome::Warning);
  auto lost = completed(0, 1);
  lost.disk_failures = {"disk data: 1:/f.txt is absent"};
  CHECK(classify(lost).outcome == Outcome::DataLoss);
  auto before = completed(0, 0);
  before.step_ran = false;
  CHECK(classify(before).outcome == Outcome::InfraError);
}

TEST_CASE("explore: identical crash titles and silent stacks collapse into one group each") {
  std::vector<ExploreRun> runs = {run(1, Outcome::KernelCrash, "BUG: x in f"), run(2, Outcome::Handled),
                                  run(3, Outcome::KernelCrash, "BUG: x in f"), run(4, Outcome::Silent, "", {"a", "b"}),
                                  run(5, Outcome::Silent, "", {"a", "b"}),    run(6, Outcome::Warning, "WARNING in g"),
                                  run(7, Outcome::Silent, "", {"c"})};
  auto groups = group_runs(runs);
  REQUIRE(groups.size() == 4);
  CHECK(groups[0].runs == std::vector<int>{1, 3});
  CHECK(groups[0].outcome == Outcome::KernelCrash);
  CHECK(groups[1].runs == std::vector<int>{4, 5});
  CHECK(runs[0].group == 1);
  CHECK(runs[2].group == 1);
  CHECK(!runs[1].group);
  CHECK(runs[5].group == 3);
}

TEST_CASE("explore: each run's scenario is a valid scenario that arms the site's fault") {
  auto w = bare({"mkdir", "/tmp/x"});
  Site nth{Site::Kind::Nth, 5, "", "", 0, false};
  auto sc = parse_scenario_text(scenario_toml(w, nth, true), "x.toml");
  REQUIRE(sc.ok());
  REQUIRE(sc->faults.size() == 1);
  CHECK(sc->faults[0].type == "fail_nth");
  CHECK(sc->faults[0].params["nth"] == 5);
  CHECK(sc->faults[0].may_not_fire);
  CHECK(sc->steps.at(0).argv == std::vector<std::string>{"mkdir", "/tmp/x"});

  // An emitted one requires the fault to fire, and keeps the header as comments.
  Site fn{Site::Kind::Function, 0, "should_failslab", "ERRNO", -ENOMEM, false};
  auto text = scenario_toml(w, fn, false, "run 7 came out silent\nsecond line");
  CHECK(text.rfind("# run 7 came out silent\n# second line\n", 0) == 0);
  auto emitted = parse_scenario_text(text, "7.toml");
  REQUIRE(emitted.ok());
  CHECK(emitted->faults[0].type == "fail_function");
  CHECK(emitted->faults[0].params["function"] == "should_failslab");
  CHECK(emitted->faults[0].params["retval"] == -ENOMEM);
  CHECK(emitted->faults[0].params["times"] == 1);
  CHECK(!emitted->faults[0].may_not_fire);

  // Arguments with quotes and control bytes survive the TOML.
  auto odd = bare({"sh", "-c", "echo \"a\\b\"\ttab"});
  auto parsed = parse_scenario_text(scenario_toml(odd, std::nullopt, true), "o.toml");
  REQUIRE(parsed.ok());
  CHECK(parsed->steps[0].argv == odd.command);
  CHECK(parsed->faults.empty());
}

TEST_CASE("explore: a scenario's [explore] step gets the fault, and the section is checked") {
  std::string text = R"(name = "s"
[[step]]
name = "setup"
run = "true"
[[step]]
name = "work"
run = "mkdir /tmp/x"
[explore]
step = "work"
sites = ["function"]
functions = ["should_failslab"]
)";
  auto sc = parse_scenario_text(text, "s.toml");
  REQUIRE(sc.ok());
  REQUIRE(sc->explore);
  CHECK(sc->explore->step == "work");
  CHECK(sc->explore->sites == std::vector<std::string>{"function"});
  Workload w;
  w.scenario = "s.toml";
  w.scenario_text = text;
  w.step = "work";
  Site fn{Site::Kind::Function, 0, "should_failslab", "ERRNO", -EIO, true};
  auto with_fault = parse_scenario_text(scenario_toml(w, fn, true), "s.toml");
  REQUIRE(with_fault.ok());
  REQUIRE(with_fault->faults.size() == 1);
  CHECK(with_fault->faults[0].steps == std::vector<std::string>{"work"});
  CHECK(with_fault->faults[0].params["times"] == -1);

  auto bad = parse_scenario_text("name = \"s\"\n[[step]]\nname = \"a\"\nrun = \"true\"\n[explore]\nstep = \"b\"\n", "b.toml");
  REQUIRE(!bad.ok());
  CHECK(bad.error().message.find("b.toml:6") != std::string::npos);
  CHECK(bad.error().message.find("'b' is not a [[step]]") != std::string::npos);
  auto bad_kind = parse_scenario_text(
      "name = \"s\"\n[[step]]\nname = \"a\"\nrun = \"true\"\n[explore]\nstep = \"a\"\nsites = [\"blk\"]\n", "k.toml");
  REQUIRE(!bad_kind.ok());
}

TEST_CASE("explore: explore.json has the contract's shape") {
  ExploreReport rep;
  rep.faultbox_version = "0.1";
  rep.workload = bare({"mkdir", "/tmp/x"});
  rep.kernel_hash = "abc";
  rep.kernel_release = "6.1.0";
  rep.accel = "tcg";
  rep.complete = false;
  rep.stopped_because = "interrupted";
  rep.discovery = discovery(2, {{"should_failslab", "ERRNO", 3}});
  rep.runs = {run(1, Outcome::KernelCrash, "BUG: x"), run(2, Outcome::NotRun)};
  rep.runs[0].stack = {"kmem_cache_alloc", "getname_flags"};
  rep.runs[0].evidence["console"] = "runs/1/console.log";
  rep.runs[0].exit_code = std::nullopt;
  rep.groups = group_runs(rep.runs);
  auto j = rep.to_json();
  CHECK(j["format"] == "faultbox-explore/1");
  CHECK(j["workload"]["command"][0] == "mkdir");
  CHECK(j["workload"]["scenario"].is_null());
  CHECK(j["complete"] == false);
  CHECK(j["discovery"]["nth_sites"] == 2);
  CHECK(j["discovery"]["functions"][0]["calls"] == 3);
  for (auto k : {"booted", "replaced", "boot_s_median", "run_overhead_s_median", "jobs"}) CHECK(j["vms"].contains(k));
  for (auto o : kOutcomes) CHECK(j["counts"].contains(to_string(o)));
  CHECK(j["counts"]["kernel-crash"] == 1);
  CHECK(j["counts"]["not-run"] == 1);
  auto& r0 = j["runs"][0];
  CHECK(r0["site"]["kind"] == "nth");
  CHECK(r0["site"]["stack"][1] == "getname_flags");
  CHECK(r0["outcome"] == "kernel-crash");
  CHECK(r0["exit_code"].is_null());
  CHECK(r0["group"] == 1);
  CHECK(r0["evidence"]["console"] == "runs/1/console.log");
  CHECK(r0["scenario"].is_null());
  CHECK(j["groups"][0]["runs"] == nlohmann::json::array({1}));
  auto text = rep.to_text();
  CHECK(text.find("INCOMPLETE: interrupted") != std::string::npos);
  CHECK(text.find("kernel-crash (1)") != std::string::npos);
}
