// `faultbox explore`'s pure parts (orchestrator/explore/explore.h): which runs a discovery makes,
// how each run is classified and grouped, the scenario each run (and each emitted file) is, and
// the explore.json shape the HTML page reads.
#include "orchestrator/explore/explore.h"

#include <catch2/catch.hpp>

#include <algorithm>
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
  CHECK(parse_site_kinds("block").value().block == true);
  CHECK(parse_site_kinds("block").value().nth == false);
  CHECK(parse_site_kinds("nth,function").value().block == false);
}

TEST_CASE("explore: block sites are each request to each disk, once, and every request with always") {
  Discovery d = discovery(2, {{"should_failslab", "ERRNO", 1}});
  d.disks = {{"data", 1, 2, 0, 0}, {"idle", 0, 0, 0, 0}, {"log.1", 0, 0, 0, 1}};
  d.disks_counted = true;
  SiteSelection block_only;
  block_only.nth = block_only.function = false;
  block_only.block = true;
  auto sites = enumerate_sites(d, block_only);
  REQUIRE(sites.size() == 3 + 1);  // data: requests 1..3; idle: none; log.1: request 1
  CHECK(sites[0].kind == Site::Kind::Block);
  CHECK(sites[0].label() == "disk data request 1");
  CHECK(sites[2].label() == "disk data request 3");
  CHECK(sites[2].slug() == "disk-data-request-3");
  CHECK(sites[3].label() == "disk log.1 request 1");

  block_only.always = true;
  auto with_always = enumerate_sites(d, block_only);
  REQUIRE(with_always.size() == 3 + 1 + 1 + 1);  // an every-request run per disk that saw I/O
  CHECK(with_always[3].label() == "disk data every request");
  CHECK(with_always[3].slug() == "disk-data-every-request");
  CHECK(with_always[5].label() == "disk log.1 every request");

  // The default selection leaves block sites out: they cost a VM boot and fresh disks each.
  auto defaults = enumerate_sites(d, SiteSelection{});
  CHECK(std::none_of(defaults.begin(), defaults.end(), [](const Site& s) { return s.kind == Site::Kind::Block; }));
  SiteSelection all = SiteSelection{};
  all.block = true;
  auto every = enumerate_sites(d, all);
  REQUIRE(every.size() == 2 + 3 + 4);
  CHECK(every.back().label() == "disk log.1 request 1");  // nth, functions, then block
}

TEST_CASE("explore: a block site is fail_make_request on its disk, the k-th request, in the explored step") {
  std::string text = R"(name = "s"
[[disk]]
name = "data"
size = "16M"
[[step]]
name = "work"
run = "dd if=/dev/zero of=$FAULTBOX_DISK_DATA bs=4096 count=2 oflag=direct"
[explore]
step = "work"
sites = ["block"]
)";
  auto sc = parse_scenario_text(text, "s.toml");
  REQUIRE(sc.ok());
  CHECK(sc->explore->sites == std::vector<std::string>{"block"});
  Workload w;
  w.scenario = "s.toml";
  w.scenario_text = text;
  w.step = "work";
  auto once = parse_scenario_text(scenario_toml(w, Site::block("data", 3), true), "s.toml");
  REQUIRE(once.ok());
  REQUIRE(once->faults.size() == 1);
  auto& f = once->faults[0];
  CHECK(f.name == kExploreFaultName);
  CHECK(f.type == "fail_make_request");
  CHECK(f.steps == std::vector<std::string>{"work"});
  CHECK(f.params["target"] == "disk:data");
  // should_fail() fails the eligible call whose count is a multiple of interval: the 3rd; times =
  // 1 ends it there. Not task-filtered: the journal thread's and writeback's bios count too.
  CHECK(f.params["interval"] == 3);
  CHECK(f.params["times"] == 1);
  CHECK(f.params["probability"] == 100);
  CHECK(f.params["task_filter"] == false);
  CHECK(f.may_not_fire);
  auto always = parse_scenario_text(scenario_toml(w, Site::block_always("data"), false), "s.toml");
  REQUIRE(always.ok());
  CHECK(always->faults[0].params["interval"] == 1);
  CHECK(always->faults[0].params["times"] == -1);
  CHECK(!always->faults[0].may_not_fire);  // an emitted scenario wants it to fire

  auto no_disk = parse_scenario_text(
      "name = \"s\"\n[[step]]\nname = \"a\"\nrun = \"true\"\n[explore]\nstep = \"a\"\nsites = [\"block\"]\n", "n.toml");
  REQUIRE(!no_disk.ok());
  CHECK(no_disk.error().message.find("n.toml:7") != std::string::npos);
  CHECK(no_disk.error().message.find("needs a [[disk]]") != std::string::npos);
}

TEST_CASE("explore: block discovery counts each disk's bios between the stat lines around the step") {
  auto script = disk_stat_script({"data", "log.1"});
  CHECK(script.find("$FAULTBOX_DISK_DATA;") != std::string::npos);
  CHECK(script.find("$FAULTBOX_DISK_LOG_1;") != std::string::npos);
  CHECK(script.find("/sys/block/${v#/dev/}/stat") != std::string::npos);
  // /sys/block/vdb/stat of 6.1: 17 fields. Reads 1+2, writes 5+6 (completed + merged), discards
  // 12+13, flushes 16.
  auto before = parse_disk_stats(
      "data      120        4     5678       90      300       10     4567       89        0      100      179        0        0        0        0        7        5\n"
      "log.1 1 0 8 1 0 0 0 0 0 1 1\n"  // an older kernel's 11 fields: no discards, no flushes
      "short 1 2 3\n");
  REQUIRE(before.size() == 2);
  CHECK(before["data"].reads == 124);
  CHECK(before["data"].writes == 310);
  CHECK(before["data"].flushes == 7);
  CHECK(before["log.1"].reads == 1);
  auto after = parse_disk_stats(
      "data 121 4 5686 91 303 11 4600 95 0 110 190 2 1 8 1 9 6\n"
      "log.1 1 0 8 1 0 0 0 0 0 1 1\n");
  auto between = disk_requests_between({"data", "log.1"}, before, after);
  REQUIRE(between.ok());
  REQUIRE(between->size() == 2);
  CHECK((*between)[0].disk == "data");
  CHECK((*between)[0].reads == 1);
  CHECK((*between)[0].writes == 4);
  CHECK((*between)[0].discards == 3);
  CHECK((*between)[0].flushes == 2);
  CHECK((*between)[0].requests() == 10);
  CHECK((*between)[1].requests() == 0);
  auto missing = disk_requests_between({"data", "gone"}, before, after);
  REQUIRE(!missing.ok());
  CHECK(missing.error().message.find("'gone'") != std::string::npos);
  auto backwards = disk_requests_between({"data"}, after, before);
  REQUIRE(!backwards.ok());
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
  CHECK(!j["discovery"].contains("disks"));  // not counted: absent, not an empty list
}

TEST_CASE("explore: explore.json has the block discovery and block sites the page reads") {
  ExploreReport rep;
  rep.workload.scenario = "s.toml";
  rep.workload.step = "work";
  rep.discovery.disks = {{"data", 0, 2, 0, 1}};
  rep.discovery.disks_counted = true;
  ExploreRun lost;
  lost.id = 1;
  lost.site = Site::block("data", 2);
  lost.outcome = Outcome::DataLoss;
  lost.detail = "disk data: 1:/f.txt is absent";
  ExploreRun every;
  every.id = 2;
  every.site = Site::block_always("data");
  every.outcome = Outcome::Handled;
  rep.runs = {lost, every};
  auto j = rep.to_json();
  auto& disk = j["discovery"]["disks"][0];
  CHECK(disk["disk"] == "data");
  CHECK(disk["requests"] == 3);
  CHECK(disk["writes"] == 2);
  CHECK(disk["flushes"] == 1);
  auto& s0 = j["runs"][0]["site"];
  CHECK(s0["kind"] == "block");
  CHECK(s0["disk"] == "data");
  CHECK(s0["request"] == 2);
  CHECK(s0["mode"] == "once");
  CHECK(s0["fault"] == "fail_make_request disk:data");
  CHECK(s0["variant"] == "request 2");
  CHECK(j["runs"][1]["site"]["mode"] == "always");
  CHECK(j["runs"][1]["site"]["variant"] == "every request");
  auto text = rep.to_text();
  CHECK(text.find("disk data: 3 block requests (0 reads, 2 writes, 0 discards, 1 flushes)") != std::string::npos);
  CHECK(text.find("data-loss (1):") != std::string::npos);
  CHECK(text.find("run 1 disk data request 2: disk data: 1:/f.txt is absent") != std::string::npos);
}
