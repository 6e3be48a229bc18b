#pragma once
// `faultbox explore`: the model of an exploration and its pure parts (docs/explore.md). A
// workload's fault sites (each fail-nth site, each reached injectable function with the return
// values its type allows) become one scenario each; every run is classified (pass, handled,
// silent, hang, kernel-crash, warning, data-loss, infra-error, not-run) and identical crashes
// are grouped. Nothing here boots a VM: explore_run.h does; these have unit tests.
#include "common/result.h"
#include "orchestrator/core/scenario.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fb {

// One table for the outcomes: their names (explore.json, explore.txt) and their order in the
// summary, worst first (crashes and silent failures are what a person reads first).
enum class Outcome { KernelCrash, Hang, Warning, DataLoss, Silent, Handled, Pass, InfraError, NotRun };
inline constexpr Outcome kOutcomes[] = {Outcome::KernelCrash, Outcome::Hang,    Outcome::Warning,
                                        Outcome::DataLoss,    Outcome::Silent,  Outcome::Handled,
                                        Outcome::Pass,        Outcome::InfraError, Outcome::NotRun};
const char* to_string(Outcome o);
std::optional<Outcome> outcome_named(const std::string& name);
// The outcomes worth a scenario of their own and a place at the top of the summary.
bool interesting(Outcome o);

// Where one run fails the workload.
struct Site {
  enum class Kind { Nth, Function, Block };
  Kind kind = Kind::Nth;
  unsigned nth = 0;          // Nth: the fault site number (fail-nth)
  std::string function;      // Function: the injectable function
  std::string type;          // its injectable type: ERRNO, NULL, ERRNO_NULL, TRUE
  long long retval = 0;      // what it returns instead
  bool always = false;       // every call (else once: times = 1); Block: every request from the first
  std::string disk;          // Block: the scenario disk whose requests fail (fail_make_request)
  unsigned request = 0;      // Block: the k-th request submitted to it while the step runs fails

  static Site block(std::string disk, unsigned request) {
    Site s{Kind::Block};
    s.disk = std::move(disk);
    s.request = request;
    return s;
  }
  static Site block_always(std::string disk) {
    Site s = block(std::move(disk), 1);
    s.always = true;
    return s;
  }

  // "nth 5", "should_failslab=-ENOMEM once", "disk data request 3", "disk data every request":
  // what a progress line and the summary say.
  std::string label() const;
  // A file-name-safe form: "nth-5", "should_failslab-ENOMEM-once", "disk-data-request-3",
  // "disk-data-every-request".
  std::string slug() const;
  nlohmann::json to_json() const;  // without the stack (the run adds it)
};

// "-ENOMEM" for -12, "1", "0" (NULL) for the rest.
std::string retval_name(long long retval);
// The return values a function of this injectable type is failed with (docs/explore.md says
// why these): ERRNO -ENOMEM, -EIO, -EINVAL; ERRNO_NULL 0 and -ENOMEM; NULL 0; TRUE 1.
std::vector<long long> retvals_for(const std::string& type);

struct ReachedFunction {
  std::string function, type;
  std::int64_t calls = 0;
};

// The I/O one scenario disk saw while the explored step ran: the differences of its
// /sys/block/<dev>/stat fields (Documentation/block/stat.rst) from just before the step to just
// after it. A request is one bio, as fail_make_request counts them (should_fail_bio() in
// submit_bio_noacct()): completed I/Os plus the bios merged into them.
struct DiskRequests {
  std::string disk;
  std::int64_t reads = 0, writes = 0, discards = 0, flushes = 0;
  std::int64_t requests() const { return reads + writes + discards + flushes; }
};

// What the unfaulted run of the workload reached.
struct Discovery {
  double wall_s = 0;
  unsigned nth_sites = 0;                 // fault sites counted by fail-nth
  std::vector<ReachedFunction> functions;  // injectable functions called, most calls first
  bool functions_traced = false;          // the function trace ran (else functions is unknown)
  std::vector<DiskRequests> disks;        // block requests per scenario disk, in scenario order
  bool disks_counted = false;             // the block discovery ran (else disks is unknown)
  std::vector<std::string> notes;         // what discovery could not do, one line each
};

// The shell script of explore's block-discovery steps: one line "NAME <the 17 stat fields>" per
// disk, the device found through $FAULTBOX_DISK_<NAME>.
std::string disk_stat_script(const std::vector<std::string>& disks);
// The lines disk_stat_script printed, as disk -> counts since boot (a line that does not parse
// is left out).
std::map<std::string, DiskRequests> parse_disk_stats(std::string_view text);
// after - before per disk of `disks` (in that order); a disk missing from either is an error
// naming it.
Result<std::vector<DiskRequests>> disk_requests_between(const std::vector<std::string>& disks,
                                                        const std::map<std::string, DiskRequests>& before,
                                                        const std::map<std::string, DiskRequests>& after);
// The names of the steps explore adds around the explored step in its block-discovery run.
inline constexpr const char* kDiskStatBeforeStep = "faultbox-explore-disk-stat-before";
inline constexpr const char* kDiskStatAfterStep = "faultbox-explore-disk-stat-after";

// Counts the calls of each function in ftrace's function-tracer text ("comm-pid [cpu] flags
// ts: func <-caller"), keeping only the functions of `injectable` (name -> type).
std::vector<ReachedFunction> count_traced_calls(std::string_view trace,
                                                const std::map<std::string, std::string>& injectable);

struct SiteSelection {
  bool nth = true, function = true;
  bool block = false;  // each request to each scenario disk failed once (fail_make_request)
  std::vector<std::string> only_functions;  // empty: every reached one
  bool always = false;                      // also a run with each function failing on every call,
                                            // and with every request to each disk failing
};
// "nth,function,block" -> selection; Usage error naming the bad word.
Result<SiteSelection> parse_site_kinds(const std::string& list);

// Every run of the exploration, in order: nth 1..N, then the functions in discovery order, each
// with its type's return values, once (and always when asked), then per disk its requests
// 1..N (and every request when always is asked).
std::vector<Site> enumerate_sites(const Discovery& d, const SiteSelection& sel);

// The workload: a bare command, or a scenario's [explore] step.
struct Workload {
  std::vector<std::string> command;  // bare: argv; scenario: the explored step's argv
  std::filesystem::path scenario;    // empty for a bare command
  std::string scenario_text;         // the scenario file as read
  std::string step;                  // the explored step (bare: "workload")
  std::string kernel;                // --kernel, written into the scenarios so they boot it too
  int memory_mb = 256;
  std::chrono::milliseconds run_timeout{std::chrono::seconds(60)};
};

// The scenario of one run as TOML: the fault at `site` armed around the workload's step. With
// `site` empty, the workload unfaulted. For a scenario workload, its own text with the fault
// appended (aimed at the [explore] step). `for_run` lets the fault not fire without failing the
// run (explore classifies that itself); an emitted scenario requires it to fire.
std::string scenario_toml(const Workload& w, const std::optional<Site>& site, bool for_run,
                          const std::string& header_comment = "");
// The fault name scenario_toml gives the explored fault.
inline constexpr const char* kExploreFaultName = "explore";
// The fail-nth N of the discovery run: large enough that no workload reaches it, so N minus the
// sites left when the step ends is the number of sites it reached.
inline constexpr long long kDiscoveryNth = 1000000;

// What one run showed, as classify() needs it.
struct RunObservation {
  enum class End { Completed, KernelCrash, Hang, Error, Interrupted };
  End end = End::Completed;
  bool step_ran = false;          // the explored step finished (its exit status is known)
  int exit_code = 0;              // its shell exit code
  std::int64_t fired = 0;         // how often the explored fault fired
  std::string step_stderr;        // what it printed on stderr
  std::string crash_title;        // a crash, or the kernel's own hang report
  std::string warning_title;      // a WARNING/BUG splat in the run's kernel log (kernel alive)
  std::vector<std::string> scenario_failures;  // expectations other than the explored step's exit
  std::vector<std::string> disk_failures;      // [expect.disk] that did not hold
  std::string error;              // infra error / hang explanation
  bool scenario_mode = false;
};

struct Classification {
  Outcome outcome = Outcome::InfraError;
  std::string title;   // crash and warning titles
  std::string detail;  // one line
};

Classification classify(const RunObservation& o);
// The first line of text that names an errno (strerror words), or "".
std::string errno_message(const std::string& text);

struct ExploreRun {
  int id = 0;
  Site site;
  std::vector<std::string> stack;  // where the fault fired (innermost first), when it did
  Outcome outcome = Outcome::NotRun;
  std::optional<int> exit_code;
  std::int64_t fired = 0;
  double duration_s = 0;
  std::string title, detail;
  std::map<std::string, std::string> evidence;  // console/kmsg/stack/output -> path relative to the report dir
  std::optional<int> group;
  std::string scenario;  // emitted scenario path, or ""
  nlohmann::json to_json() const;
};

struct ExploreGroup {
  int id = 0;
  Outcome outcome = Outcome::KernelCrash;
  std::string title;
  std::vector<std::string> stack;
  std::vector<int> runs;
};

// Crash, warning and hang runs with the same title, and silent runs with the same stack, are
// one group each (ids from 1 in order of first appearance); sets each member's `group`.
std::vector<ExploreGroup> group_runs(std::vector<ExploreRun>& runs);

struct VmStats {
  int booted = 0, replaced = 0, jobs = 1;
  std::vector<double> boot_s, run_overhead_s;
};
double median(std::vector<double> v);

struct ExploreReport {
  std::string faultbox_version;
  Workload workload;
  std::string kernel_hash, kernel_release, accel;
  std::string started;  // ISO 8601 UTC
  double wall_s = 0;
  bool complete = false;
  std::string stopped_because;  // why not complete: "interrupted", "budget", "discovery failed: ..."
  Discovery discovery;
  VmStats vms;
  std::vector<ExploreRun> runs;
  std::vector<ExploreGroup> groups;

  std::map<Outcome, int> counts() const;
  nlohmann::json to_json() const;  // format "faultbox-explore/1"
  std::string to_text() const;     // explore.txt and stdout
};

// "[12/57] nth 5: handled 0.4s | crash 1 silent 3 handled 8 pass 0 | ETA 40s"
std::string progress_line(std::size_t done, std::size_t total, const ExploreRun& run,
                          const std::map<Outcome, int>& counts, double eta_s);

}  // namespace fb
