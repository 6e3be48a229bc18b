#include "tests/support/explore_sample.h"

#include <string>
#include <vector>

namespace fb::test {

namespace {

using nlohmann::json;

// The stacks of mkdir's fault sites as the fail-nth sweep of the faultbox kernel names them.
const std::vector<std::string> kGetname = {"kmem_cache_alloc", "getname_flags", "do_mkdirat", "__x64_sys_mkdir",
                                           "do_syscall_64", "entry_SYSCALL_64_after_hwframe"};
const std::vector<std::string> kDalloc = {"kmem_cache_alloc_lru", "__d_alloc", "d_alloc", "lookup_one_qstr_excl",
                                          "filename_create", "do_mkdirat", "__x64_sys_mkdir"};
const std::vector<std::string> kShmemInode = {"kmem_cache_alloc_lru", "shmem_alloc_inode", "alloc_inode", "new_inode",
                                              "shmem_get_inode", "shmem_mknod", "vfs_mkdir", "do_mkdirat"};
const std::vector<std::string> kXattr = {"__kmalloc", "simple_xattrs_init", "shmem_get_inode", "shmem_mknod"};
const std::vector<std::string> kDentryName = {"__kmalloc", "__d_alloc", "d_alloc", "lookup_one_qstr_excl"};

json nth_run(int id, int nth, const std::vector<std::string>& stack, const char* outcome, int exit_code, int fired,
             double duration) {
  return {{"id", id},
          {"site", {{"kind", "nth"}, {"nth", nth}, {"stack", stack}}},
          {"outcome", outcome},
          {"exit_code", exit_code},
          {"fired", fired},
          {"duration_s", duration},
          {"title", nullptr},
          {"detail", nullptr},
          {"evidence", json::object()},
          {"group", nullptr},
          {"scenario", nullptr}};
}

json function_run(int id, const char* function, const char* retval, const char* mode, const char* outcome, int exit_code,
                  int fired, const std::vector<std::string>& stack) {
  json r = nth_run(id, 0, stack, outcome, exit_code, fired, 0.31);
  r["site"] = {{"kind", "function"}, {"function", function}, {"type", std::string(retval) == "1" ? "TRUE" : "ERRNO"},
               {"retval", retval}, {"mode", mode}, {"stack", stack}};
  return r;
}

json evidence(int id, bool console, bool kmsg, bool stack, bool output) {
  json e = json::object();
  std::string dir = "runs/" + std::to_string(id) + "/";
  if (console) e["console"] = dir + "console.log";
  if (kmsg) e["kmsg"] = dir + "kmsg.log";
  if (stack) e["stack"] = dir + "stack.txt";
  if (output) e["output"] = dir + "output.txt";
  return e;
}

}  // namespace

json sample_explore_report() {
  const std::string enomem = "mkdir: can't create directory '/tmp/x': Out of memory";
  json runs = json::array();
  auto add = [&](json r) { runs.push_back(std::move(r)); };

  json r = nth_run(1, 1, kGetname, "handled", 1, 1, 0.22);
  r["detail"] = enomem;
  r["evidence"] = evidence(1, false, false, false, true);
  add(r);
  r = nth_run(2, 2, kDentryName, "handled", 1, 1, 0.21);
  r["detail"] = enomem;
  add(r);
  r = nth_run(3, 3, kDalloc, "kernel-crash", -1, 1, 1.84);
  r["title"] = "BUG: kernel NULL pointer dereference in d_alloc";
  r["detail"] = "the guest panicked; VM replaced";
  r["evidence"] = evidence(3, true, true, true, true);
  r["group"] = 1;
  r["scenario"] = "scenarios/3-nth-3.toml";
  add(r);
  r = nth_run(4, 4, kShmemInode, "silent", 0, 1, 0.24);
  r["detail"] = "exit 0 but the fault fired in shmem_alloc_inode";
  r["evidence"] = evidence(4, false, true, true, true);
  r["group"] = 2;
  r["scenario"] = "scenarios/4-nth-4.toml";
  add(r);
  r = nth_run(5, 5, kXattr, "kernel-crash", -1, 1, 1.91);
  r["title"] = "BUG: kernel NULL pointer dereference in d_alloc";
  r["evidence"] = evidence(5, true, true, true, false);
  r["group"] = 1;
  add(r);
  // Guest text hostile to a page: a step's output a run's detail quotes.
  r = nth_run(6, 6, kGetname, "handled", 1, 1, 0.23);
  r["detail"] = "<script>document.body.setAttribute('data-pwned','1')</script>\"><img src=x onerror=\"document.body."
                "setAttribute('data-pwned','2')\"><b id=\"pwned\">bold</b> \x1b[31mred\x1b[0m \xff\xfe end";
  r["evidence"] = evidence(6, false, false, false, true);
  add(r);
  r = nth_run(7, 7, {}, "pass", 0, 0, 0.19);
  r["detail"] = "the fault did not fire: the workload reaches 6 sites";
  add(r);

  r = function_run(8, "should_failslab", "-ENOMEM", "once", "handled", 1, 1, kGetname);
  r["detail"] = enomem;
  add(r);
  r = function_run(9, "should_failslab", "-ENOMEM", "always", "handled", 1, 3, kGetname);
  r["detail"] = enomem;
  add(r);
  r = function_run(10, "should_fail_alloc_page", "1", "once", "pass", 0, 0, {});
  add(r);
  r = function_run(11, "should_fail_alloc_page", "1", "always", "hang", -1, 214,
                   {"should_fail_alloc_page", "__alloc_pages", "alloc_pages", "shmem_alloc_folio"});
  r["title"] = "hang: no heartbeat for 30 s; task mkdir blocked in shmem_alloc_folio";
  r["evidence"] = evidence(11, true, true, false, true);
  r["group"] = 3;
  add(r);
  r = function_run(12, "__filemap_add_folio", "-ENOMEM", "once", "warning", 0, 1,
                   {"__filemap_add_folio", "filemap_add_folio", "shmem_add_to_page_cache"});
  r["title"] = "WARNING in __filemap_add_folio";
  r["evidence"] = evidence(12, true, true, true, false);
  r["group"] = 4;
  add(r);
  r = function_run(13, "__filemap_add_folio", "-EIO", "once", "silent", 0, 1, {"__filemap_add_folio"});
  r["group"] = 2;
  add(r);
  // A run the budget ran out before.
  r = function_run(14, "should_fail_bio", "-EIO", "once", "not-run", -1, 0, {});
  add(r);

  r = nth_run(15, 0, {}, "data-loss", 0, 2, 0.65);
  r["site"] = {{"kind", "block"}, {"fault", "dm_flakey"}, {"variant", "drop_writes"}};
  r["detail"] = "disk data partition 1: /data/f lost its write (sha256 differs)";
  r["evidence"] = evidence(15, false, true, false, true);
  add(r);
  r = nth_run(16, 0, {}, "pass", 0, 0, 0.52);
  r["site"] = {{"kind", "block"}, {"fault", "dm_flakey"}, {"variant", "error_writes"}};
  add(r);

  json counts = {{"pass", 0}, {"handled", 0}, {"silent", 0}, {"hang", 0}, {"kernel-crash", 0}, {"warning", 0},
                 {"data-loss", 0}, {"infra-error", 0}, {"not-run", 0}};
  for (const auto& run : runs) counts[run["outcome"].get<std::string>()] = counts[run["outcome"].get<std::string>()].get<int>() + 1;

  return {
      {"format", "faultbox-explore/1"},
      {"faultbox_version", "0.1.0"},
      {"workload", {{"command", {"mkdir", "/tmp/x"}}, {"scenario", nullptr}, {"step", nullptr}}},
      {"kernel", {{"hash", "75e506b3e68b3ceb"}, {"release", "6.1.192"}}},
      {"accel", "tcg"},
      {"started", "2026-11-30T01:02:03Z"},
      {"wall_s", 41.7},
      {"complete", true},
      {"discovery",
       {{"wall_s", 3.1},
        {"nth_sites", 7},
        {"functions",
         {{{"function", "should_failslab"}, {"type", "ERRNO"}, {"calls", 12}},
          {{"function", "should_fail_alloc_page"}, {"type", "TRUE"}, {"calls", 3}},
          {{"function", "__filemap_add_folio"}, {"type", "ERRNO"}, {"calls", 1}},
          {{"function", "should_fail_bio"}, {"type", "ERRNO"}, {"calls", 0}}}}}},
      {"vms", {{"booted", 3}, {"replaced", 2}, {"boot_s_median", 2.0}, {"run_overhead_s_median", 0.21}, {"jobs", 2}}},
      {"counts", counts},
      {"runs", runs},
      {"groups",
       {{{"id", 1}, {"outcome", "kernel-crash"}, {"title", "BUG: kernel NULL pointer dereference in d_alloc"},
         {"stack", kDalloc}, {"runs", {3, 5}}},
        {{"id", 2}, {"outcome", "silent"}, {"title", nullptr}, {"stack", kShmemInode}, {"runs", {4, 13}}},
        {{"id", 3}, {"outcome", "hang"}, {"title", "hang: no heartbeat for 30 s; task mkdir blocked in shmem_alloc_folio"},
         {"stack", json::array()}, {"runs", {11}}},
        {{"id", 4}, {"outcome", "warning"}, {"title", "WARNING in __filemap_add_folio"}, {"stack", json::array()},
         {"runs", {12}}}}},
  };
}

}  // namespace fb::test
