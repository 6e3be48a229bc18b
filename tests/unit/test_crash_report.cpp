// The crash detector: a golden corpus of console logs (tests/data/console, CONVENTIONS 10) and
// focused checks of prefix stripping, frame skipping and robustness against garbage.
#include "common/files.h"
#include "orchestrator/core/crash_report.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>

using namespace fb;
namespace fs = std::filesystem;

namespace {

std::filesystem::path corpus_dir() {
  if (const char* env = std::getenv("FAULTBOX_CONSOLE_CORPUS"); env && *env) return env;
  return FAULTBOX_CONSOLE_CORPUS_DIR;
}

// A corpus file: "# key: value" header lines, then the console text exactly as captured.
struct CorpusCase {
  std::vector<std::pair<std::string, std::string>> header;  // in file order
  std::string body;

  std::string get(const std::string& key) const {
    for (const auto& [k, v] : header)
      if (k == key) return v;
    return {};
  }
  void set(const std::string& key, const std::string& value) {
    for (auto& [k, v] : header)
      if (k == key) {
        v = value;
        return;
      }
    header.emplace_back(key, value);
  }
  void erase(const std::string& key) {
    header.erase(std::remove_if(header.begin(), header.end(), [&](const auto& kv) { return kv.first == key; }),
                 header.end());
  }
  std::string serialize() const {
    std::string out;
    for (const auto& [k, v] : header) out += "# " + k + ": " + v + "\n";
    return out + body;
  }
};

CorpusCase parse_case(const std::string& text) {
  CorpusCase c;
  std::size_t pos = 0;
  while (pos < text.size() && text.compare(pos, 2, "# ") == 0) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos + 2, end - pos - 2);
    auto colon = line.find(": ");
    if (colon == std::string::npos && !line.empty() && line.back() == ':') colon = line.size() - 1;
    if (colon == std::string::npos) break;
    c.header.emplace_back(line.substr(0, colon), colon + 2 <= line.size() ? line.substr(colon + 2) : "");
    pos = end + 1;
  }
  c.body = text.substr(std::min(pos, text.size()));
  return c;
}

// Event kinds in order of first appearance: "oom_kill, fault_injection".
std::string event_kinds(const ConsoleScan& scan) {
  std::vector<std::string> kinds;
  for (const auto& e : scan.events)
    if (std::find(kinds.begin(), kinds.end(), to_string(e.kind)) == kinds.end()) kinds.push_back(to_string(e.kind));
  std::string out;
  for (const auto& k : kinds) out += (out.empty() ? "" : ", ") + k;
  return out;
}

std::string title_of(std::string_view log) {
  auto scan = scan_console(log);
  return scan.crash ? scan.crash->title : std::string("(no crash)");
}

}  // namespace

TEST_CASE("every golden console log gets its expected title and kind and verdict") {
  const bool update = std::getenv("FAULTBOX_UPDATE_GOLDEN") && std::string(std::getenv("FAULTBOX_UPDATE_GOLDEN")) == "1";
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(corpus_dir()))
    if (entry.path().extension() == ".log") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 25);

  for (const auto& path : files) {
    auto text = read_file(path);
    REQUIRE(text.ok());
    CorpusCase c = parse_case(*text);
    ConsoleScan scan = scan_console(c.body);
    const bool crashed = scan.crash.has_value();
    const std::string title = crashed ? scan.crash->title : "";
    const std::string kind = crashed ? to_string(scan.crash->kind) : "";
    const std::string events = event_kinds(scan);

    if (update) {
      if (crashed) {
        c.set("title", title);
        c.set("kind", kind);
      } else {
        c.erase("title");
        c.erase("kind");
      }
      if (crashed && scan.crash->corrupted)
        c.set("corrupted", "true");
      else
        c.erase("corrupted");
      c.set("crashed", crashed ? "true" : "false");
      if (events.empty())
        c.erase("events");
      else
        c.set("events", events);
      if (c.serialize() != *text) REQUIRE(write_file_atomic(path, c.serialize()).ok());
      continue;
    }

    INFO(path.filename().string() << " (FAULTBOX_UPDATE_GOLDEN=1 rewrites the headers)");
    REQUIRE_FALSE(c.get("source").empty());
    const std::string expected_crashed = c.get("crashed").empty() ? (c.get("title").empty() ? "false" : "true")
                                                                   : c.get("crashed");
    CHECK(expected_crashed == (crashed ? "true" : "false"));
    CHECK(c.get("title") == title);
    CHECK(c.get("kind") == kind);
    CHECK(c.get("corrupted") == (crashed && scan.crash->corrupted ? "true" : ""));
    CHECK(c.get("events") == events);
    if (crashed) {
      CHECK_FALSE(scan.crash->report.empty());
      CHECK(scan.crash->first_line >= 1);
      CHECK(scan.crash->last_line >= scan.crash->first_line);
    }
  }
}

TEST_CASE("printk prefixes are stripped: syslog level and timestamp and caller id") {
  auto a = split_console_prefix("[    1.234567] BUG: x");
  CHECK(a.text == "BUG: x");
  CHECK(a.caller.empty());
  auto b = split_console_prefix("[   12.345678][ T1234] WARNING: y");
  CHECK(b.text == "WARNING: y");
  CHECK(b.caller == "T1234");
  auto c = split_console_prefix("[  C1] rcu: z");
  CHECK(c.text == "rcu: z");
  CHECK(c.caller == "C1");
  auto d = split_console_prefix("<4>[    0.000000] [    T7] text");
  CHECK(d.text == "text");
  CHECK(d.caller == "T7");
  // A trace line keeps its indentation; a malformed prefix is left alone.
  CHECK(split_console_prefix("[    1.177440]  direct_entry+0xa5/0xbb").text == " direct_entry+0xa5/0xbb");
  CHECK(split_console_prefix("[ 1.2 BUG: x").text == "[ 1.2 BUG: x");
  CHECK(split_console_prefix("").text.empty());
}

TEST_CASE("machinery frames are recognised, the code under test is not") {
  for (const char* f : {"dump_stack", "dump_stack_lvl", "__warn", "report_bug", "handle_bug", "exc_invalid_op",
                        "asm_exc_invalid_op", "panic", "should_fail_ex", "should_failslab", "__should_failslab",
                        "should_fail_bio", "fail_dump", "lkdtm_do_action", "direct_entry", "full_proxy_write",
                        "vfs_write", "ksys_write", "do_syscall_64", "entry_SYSCALL_64_after_hwframe",
                        "page_fault_oops", "exc_page_fault", "asm_exc_page_fault", "do_user_addr_fault",
                        "slab_pre_alloc_hook.constprop.0", "kmem_cache_alloc", "_raw_spin_lock"})
    CHECK(is_machinery_frame(f));
  for (const char* f : {"lkdtm_BUG", "lkdtm_WARNING", "submit_bio_noacct", "getname_flags", "ext4_fill_super"})
    CHECK_FALSE(is_machinery_frame(f));
}

TEST_CASE("the guilty frame skips fault-injection and exception frames") {
  const char* log =
      "[   10.000000] BUG: unable to handle page fault for address: ffffc90000a3b000\n"
      "[   10.000001] #PF: supervisor read access in kernel mode\n"
      "[   10.000002] Oops: 0000 [#1] PREEMPT SMP\n"
      "[   10.000003] CPU: 1 PID: 311 Comm: dd Not tainted 6.1.192 #1\n"
      "[   10.000004] RIP: 0010:should_fail_bio+0x1c/0x40\n"
      "[   10.000005] Call Trace:\n"
      "[   10.000006]  <TASK>\n"
      "[   10.000007]  ? page_fault_oops+0x10/0x20\n"
      "[   10.000008]  ? exc_page_fault+0x60/0x140\n"
      "[   10.000009]  asm_exc_page_fault+0x22/0x30\n"
      "[   10.000010]  should_fail_bio.isra.0+0x1c/0x40\n"
      "[   10.000011]  submit_bio_noacct+0x8e/0x4a0 [null_blk]\n"
      "[   10.000012]  submit_bio+0x3c/0x80\n"
      "[   10.000013]  </TASK>\n"
      "[   10.000014] ---[ end trace 0000000000000000 ]---\n";
  auto scan = scan_console(log);
  REQUIRE(scan.crash);
  CHECK(scan.crash->kind == CrashKind::PageFault);
  CHECK(scan.crash->guilty_frame == "submit_bio_noacct");
  CHECK(scan.crash->title == "BUG: unable to handle page fault in submit_bio_noacct");
  CHECK(scan.crash->first_line == 1);
  CHECK(scan.crash->last_line == 15);
}

TEST_CASE("titles do not change with addresses or timestamps or PIDs or CPUs") {
  const char* a =
      "[    1.170227] kernel BUG at drivers/misc/lkdtm/bugs.c:78!\n"
      "[    1.171506] invalid opcode: 0000 [#1] SMP\n"
      "[    1.171927] CPU: 0 PID: 26 Comm: sh Not tainted 6.1.192 #1\n"
      "[    1.172247] RIP: 0010:lkdtm_BUG+0x0/0x2 [lkdtm]\n";
  const char* b =
      "[  391.000001][ T4711] kernel BUG at drivers/misc/lkdtm/bugs.c:79!\n"
      "[  391.000002][ T4711] invalid opcode: 0000 [#3] PREEMPT SMP KASAN\n"
      "[  391.000003][ T4711] CPU: 3 PID: 4711 Comm: a.out Tainted: G        W 6.1.192 #1\n"
      "[  391.000004][ T4711] RIP: 0010:lkdtm_BUG+0x7/0x9 [lkdtm]\n";
  CHECK(title_of(a) == "kernel BUG in lkdtm_BUG");
  CHECK(title_of(b) == "kernel BUG in lkdtm_BUG");
  CHECK(title_of("[    1.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000\n") ==
        "kernel panic: Attempted to kill init!");
  CHECK(title_of("watchdog: BUG: soft lockup - CPU#1 stuck for 23s! [loop:99]\nRIP: 0010:spin+0x1/0x2\n") ==
        "BUG: soft lockup in spin");
  CHECK(title_of("BUG: scheduling while atomic: sh/26/0x00000002\n") == "BUG: scheduling while atomic");
}

TEST_CASE("only the crashing caller's lines make the report when printk tags callers") {
  const char* log =
      "[    5.000000][    T1] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
      "[    5.000001][   T88] usb 1-1: new device\n"
      "[    5.000002][    T1] RIP: 0010:victim_function+0x5/0x10\n"
      "[    5.000003][   C0]  interrupt_noise+0x1/0x2\n"
      "[    5.000004][    T1] Call Trace:\n"
      "[    5.000005][    T1]  <TASK>\n"
      "[    5.000006][   T88]  other_task_frame+0x1/0x2\n"
      "[    5.000007][    T1]  caller_function+0x1/0x2\n"
      "[    5.000008][    T1]  </TASK>\n";
  auto scan = scan_console(log);
  REQUIRE(scan.crash);
  CHECK(scan.crash->title == "BUG: kernel NULL pointer dereference in victim_function");
  CHECK(scan.crash->report.find("T88") == std::string::npos);
  CHECK(scan.crash->report.find("C0") == std::string::npos);
}

TEST_CASE("verbose fault-injection stacks and OOM kills are events, not crashes") {
  const char* log =
      "[    1.431043] FAULT_INJECTION: forcing a failure.\n"
      "[    1.431043] name failslab, interval 1, probability 100, space 0, times 1\n"
      "[    1.433392] CPU: 0 PID: 28 Comm: mkdir Not tainted 6.1.192 #1\n"
      "[    1.434226] Call Trace:\n"
      "[    1.436112]  dump_stack_lvl+0x33/0x42\n"
      "[    1.436687]  should_fail_ex+0x116/0x139\n"
      "[    1.437133]  should_failslab+0x5/0xd\n"
      "[    4.751265] Out of memory: Killed process 27 (tail) total-vm:221908kB, anon-rss:219804kB\n";
  auto scan = scan_console(log);
  CHECK_FALSE(scan.crash);
  REQUIRE(scan.events.size() == 2);
  CHECK(scan.events[0].kind == ConsoleEventKind::FaultInjection);
  CHECK(scan.events[0].text == "FAULT_INJECTION: forcing a failure (failslab)");
  CHECK(scan.events[1].kind == ConsoleEventKind::OomKill);
  CHECK(scan.events[1].text == "Out of memory: Killed process 27 (tail)");
  CHECK(scan.events[1].line == 8);
}

TEST_CASE("events are capped and the rest counted") {
  std::string log;
  for (int i = 0; i < 150; ++i) log += "FAULT_INJECTION: forcing a failure.\n";
  auto scan = scan_console(log);
  CHECK(scan.events.size() == ConsoleScan::kMaxEvents);
  CHECK(scan.events_dropped == 50);
}

TEST_CASE("arbitrary bytes neither crash nor fool the scanner") {
  std::mt19937 rng(12345);
  std::string noise(1 << 20, '\0');
  for (auto& ch : noise) ch = static_cast<char>(rng() & 0xff);
  auto quiet = scan_console(noise);
  CHECK_FALSE(quiet.crash);

  // A real report survives garbage lines between its own.
  std::string log = noise.substr(0, 5000) + "\n[    1.0] Kernel panic - not syncing: dumptest\n";
  log += "[    1.0] Call Trace:\n" + noise.substr(5000, 300) + "\n[    1.0]  panic+0xfc/0x271\n";
  log += "\x01\xff garbage \x7f\n[    1.0]  lkdtm_PANIC+0xc/0xc\n";
  auto scan = scan_console(log);
  REQUIRE(scan.crash);
  CHECK(scan.crash->title == "kernel panic: dumptest");
  CHECK(scan.crash->guilty_frame == "lkdtm_PANIC");

  // Prefix-only and truncated lines.
  for (const char* s : {"[", "[ ", "[    1.", "[    1.2", "[    1.2]", "[ T", "[ T1", "<", "<4", "<4>",
                        "BUG: ", "WARNING: CPU: ", "kernel BUG at ", "BUG: KASAN: ", "UBSAN: ", "RIP: 0010:",
                        "Kernel panic - not syncing: ", "INFO: task  blocked for more than ", "BUG x (Not tainted): "})
    CHECK_NOTHROW(scan_console(s));
}

TEST_CASE("a 10 MB line without a newline is handled in linear time") {
  std::string huge(10 << 20, 'A');
  auto t0 = std::chrono::steady_clock::now();
  auto scan = scan_console(huge);
  CHECK_FALSE(scan.crash);
  std::string bugs;
  bugs.reserve(10 << 20);
  while (bugs.size() < (10u << 20)) bugs += "BUG: BUG: kernel BUG at BUG: ";
  auto scan2 = scan_console(bugs + "\n" + bugs);
  CHECK(scan2.crash);
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(seconds < 2.0);
}

TEST_CASE("blocked_tasks names the D-state tasks of the last sysrq-w, not those of sysrq-t") {
  auto log = read_file(fs::path(FAULTBOX_CONSOLE_CORPUS_DIR) / "../sysrq/hung-task-sysrq-9wt.log");
  REQUIRE(log.ok());
  CHECK(blocked_tasks(*log) == std::vector<std::string>{"sh (pid 27)"});
  CHECK(scan_console(*log).crash == std::nullopt);  // sysrq dumps are evidence, not a crash
  CHECK(blocked_tasks("[    1.0] sysrq: Show State\n[    1.0] task:sh  state:D stack:0 pid:3\n").empty());
  std::string two =
      "[   10.1][  T1] sysrq: Show Blocked State\n"
      "[   10.1][  T1] task:kworker/0:1    state:D stack:0     pid:12    ppid:2      flags:0x00004000\n"
      "[   10.1][  T1] task:dd              state:D stack:0     pid:99    ppid:1      flags:0x00000000\n"
      "[   10.1][  T1] task:cat             state:S stack:0     pid:98    ppid:1      flags:0x00000000\n";
  CHECK(blocked_tasks(two) == std::vector<std::string>{"kworker/0:1 (pid 12)", "dd (pid 99)"});
}

TEST_CASE("a panic line user space wrote into /dev/kmsg does not title the crash that follows") {
  auto real = read_file(corpus_dir() / "lkdtm-bug.log");
  REQUIRE(real.ok());
  // The corpus log as console_msg_format=syslog prints it: "<facility*8+level>" on every line.
  std::string kernel_lines;
  std::istringstream in(real->substr(real->find("\n[") + 1));  // without the "# key: value" header
  for (std::string l; std::getline(in, l);) kernel_lines += "<4>" + l + "\n";
  const std::string forged = "[    1.100000] Kernel panic - not syncing: VFS: forged by a workload\n";

  // LOG_USER (facility 1) at level 4: what `echo ... > /dev/kmsg` makes of it.
  auto scan = scan_console("<12>" + forged + kernel_lines);
  REQUIRE(scan.crash);
  CHECK(scan.crash->title == "kernel BUG in lkdtm_BUG");
  CHECK(scan.crash->report.find("forged") == std::string::npos);
  // A "<0>" the writer put in front is parsed by devkmsg_write as a level, the facility stays 1.
  CHECK(scan_console("<8>" + forged + kernel_lines).crash->title == "kernel BUG in lkdtm_BUG");
  // Inside the report, too: a user line between the kernel's is not part of it.
  std::string inside = kernel_lines;
  inside.insert(inside.find("<4>[    1.171927]"), "<14>[    1.171900] Kernel panic - not syncing: forged inside\n");
  auto in_report = scan_console(inside);
  REQUIRE(in_report.crash);
  CHECK(in_report.crash->title == "kernel BUG in lkdtm_BUG");
  CHECK(in_report.crash->report.find("forged") == std::string::npos);

  // The kernel's own panic (facility 0) still titles it, and without prefixes nothing can tell.
  CHECK(scan_console("<0>" + forged + kernel_lines).crash->title == "kernel panic: VFS: forged by a workload");
  CHECK(scan_console(forged + real->substr(real->find("\n[") + 1)).crash->title ==
        "kernel panic: VFS: forged by a workload");
  CHECK(split_console_prefix("<12>[    1.100000] x").prio == 12);
  CHECK(split_console_prefix("[    1.100000] x").prio == -1);
}

// Hand-written snippets, one rule each (the golden corpus holds the real logs).

TEST_CASE("the frame tables skip reporting, lock, allocation, string and sanitizer helpers") {
  for (const char* f : {"print_circular_bug", "check_noncircular", "__lock_acquire", "lock_acquire", "spin_dump",
                        "do_raw_spin_lock", "__schedule_bug", "check_preemption_disabled", "handle_overflow",
                        "__ubsan_handle_shift_out_of_bounds", "kasan_report", "__asan_load8", "kmsan_report",
                        "memcpy", "copy_from_iter", "_copy_from_iter", "mutex_lock_nested", "__mutex_lock",
                        "down_write", "schedule_timeout", "wait_for_completion", "kmalloc_trace", "__kmalloc",
                        "kmem_cache_alloc_node", "strncpy_from_user", "__list_add_valid", "refcount_warn_saturate",
                        "__x64_sys_ioctl", "el0_svc"})
    CHECK(is_machinery_frame(f));
  for (const char* f : {"rtnl_lock", "synchronize_rcu_expedited_x", "ext4_fill_super", "p9_fd_close", "tcp_sendmsg"})
    CHECK_FALSE(is_machinery_frame(f));
}

TEST_CASE("a deadlock is titled after the function that takes the new lock") {
  const char* log =
      "[   36.345030] ======================================================\n"
      "[   36.351334] WARNING: possible circular locking dependency detected\n"
      "[   36.357637] 6.1.0 #1 Not tainted\n"
      "[   36.361330] ------------------------------------------------------\n"
      "[   36.361330] sh/5807 is trying to acquire lock:\n"
      "[   36.361332] ffff888 (&dev->lock){+.+.}-{3:3}, at: mutex_lock_nested+0x16/0x20\n"
      "[   36.361358] \n"
      "[   36.361358] but task is already holding lock:\n"
      "[   36.361360] ffff888 (&q->lock){+.+.}-{3:3}, at: queue_flush+0x17/0x20\n"
      "[   36.664481] stack backtrace:\n"
      "[   36.664481] CPU: 0 PID: 5807 Comm: sh Not tainted 6.1.0 #1\n"
      "[   36.664481] Call Trace:\n"
      "[   36.664481]  <TASK>\n"
      "[   36.664481]  dump_stack_lvl+0x1/0x2\n"
      "[   36.664481]  check_noncircular+0x1/0x2\n"
      "[   36.664481]  __lock_acquire+0x1/0x2\n"
      "[   36.664481]  lock_acquire+0x1/0x2\n"
      "[   36.664481]  __mutex_lock+0x1/0x2\n"
      "[   36.664481]  mutex_lock_nested+0x1/0x2\n"
      "[   36.664481]  dev_reconfigure+0x1/0x2\n"
      "[   36.664481]  dev_ioctl+0x1/0x2\n"
      "[   36.664481]  </TASK>\n";
  auto scan = scan_console(log);
  REQUIRE(scan.crash);
  CHECK(scan.crash->kind == CrashKind::Lockdep);
  CHECK(scan.crash->title == "possible deadlock in dev_reconfigure");
  CHECK_FALSE(scan.crash->corrupted);
  CHECK(std::find(scan.crash->alt_titles.begin(), scan.crash->alt_titles.end(), "deadlock in dev_reconfigure") !=
        scan.crash->alt_titles.end());
  // With the acquirer named on the "at:" line itself, that is the frame.
  std::string named = log;
  named.replace(named.find("at: mutex_lock_nested"), 21, "at: dev_probe_locked");
  CHECK(title_of(named) == "possible deadlock in dev_probe_locked");
}

TEST_CASE("a hung task is blamed on the caller of the lock or wait it sleeps in") {
  const char* log =
      "[  246.7] INFO: task sh:27 blocked for more than 120 seconds.\n"
      "[  246.7]       Not tainted 6.1.192 #1\n"
      "[  246.7] task:sh              state:D stack:0     pid:27    ppid:1      flags:0x00004000\n"
      "[  246.7] Call Trace:\n"
      "[  246.7]  <TASK>\n"
      "[  246.7]  __schedule+0x1/0x2\n"
      "[  246.7]  schedule+0x1/0x2\n"
      "[  246.7]  schedule_preempt_disabled+0x1/0x2\n"
      "[  246.7]  __mutex_lock+0x1/0x2\n"
      "[  246.7]  mutex_lock_nested+0x1/0x2\n"
      "[  246.7]  synchronize_rcu+0x1/0x2\n"
      "[  246.7]  fs_teardown+0x1/0x2\n"
      "[  246.7]  </TASK>\n";
  CHECK(title_of(log) == "INFO: task hung in synchronize_rcu");
  // A trace cut after the scheduler is corrupted: no frame is guessed.
  auto cut = scan_console(std::string(log).substr(0, std::string(log).find("[  246.7]  schedule+")));
  REQUIRE(cut.crash);
  CHECK(cut.crash->corrupted);
  CHECK(cut.crash->guilty_frame.empty());
  CHECK(cut.crash->title == "INFO: task hung");
}

TEST_CASE("a report whose stack never came is corrupted even when its PC names the frame") {
  const std::string head =
      "[    5.0] BUG: kernel NULL pointer dereference, address: 0000000000000008\n"
      "[    5.0] Oops: 0000 [#1] PREEMPT SMP\n"
      "[    5.0] RIP: 0010:widget_poll+0x1c/0x40\n";
  auto cut = scan_console(head + "[    5.1] random: crng init done\n");
  REQUIRE(cut.crash);
  CHECK(cut.crash->corrupted);
  CHECK(cut.crash->title == "BUG: kernel NULL pointer dereference in widget_poll");
  auto whole = scan_console(head + "[    5.0] Call Trace:\n[    5.0]  <TASK>\n[    5.0]  do_poll+0x1/0x2\n"
                                   "[    5.0]  </TASK>\n");
  REQUIRE(whole.crash);
  CHECK_FALSE(whole.crash->corrupted);
  CHECK(whole.crash->guilty_frame == "widget_poll");
}

TEST_CASE("a KASAN access inside a string or copy helper is blamed on its caller") {
  const char* log =
      "[   10.0] ==================================================================\n"
      "[   10.0] BUG: KASAN: slab-out-of-bounds in memcpy+0x1d/0x60\n"
      "[   10.0] Write of size 16 at addr ffff888 by task sh/27\n"
      "[   10.0] Call Trace:\n"
      "[   10.0]  <TASK>\n"
      "[   10.0]  dump_stack_lvl+0x1/0x2\n"
      "[   10.0]  print_report+0x1/0x2\n"
      "[   10.0]  kasan_report+0x1/0x2\n"
      "[   10.0]  kasan_check_range+0x1/0x2\n"
      "[   10.0]  memcpy+0x1/0x2\n"
      "[   10.0]  parse_options+0x1/0x2\n"
      "[   10.0]  </TASK>\n"
      "[   10.0] Allocated by task 27:\n"
      "[   10.0]  kasan_save_stack+0x1/0x2\n"
      "[   10.0]  alloc_site+0x1/0x2\n"
      "[   10.0] ==================================================================\n";
  auto scan = scan_console(log);
  REQUIRE(scan.crash);
  CHECK(scan.crash->title == "KASAN: slab-out-of-bounds Write in parse_options");
  CHECK(scan.crash->alt_titles == std::vector<std::string>{"bad memory access in parse_options"});
}

TEST_CASE("generic WARNING and BUG lines open a report only with a stack behind them") {
  // Driver messages that merely start with the word: no crash.
  CHECK(title_of("[   45.0][ T3610] WARNING: fbcon: Driver 'vkmsdrmfb' missed to adjust virtual screen size\n"
                 "[   45.1][ T3610] fbcon: done\n[   46.0] random: crng init done\n") == "(no crash)");
  CHECK(title_of("[    1.0] WARNING: Unsupported flag value(s) of 0x3 in DT_FLAGS_1.\n[    1.1] ok\n") ==
        "(no crash)");
  // The same word with a stack is a report.
  CHECK(title_of("[    1.0] WARNING: odd state detected\n[    1.0] CPU: 0 PID: 1 Comm: sh Not tainted 6.1 #1\n"
                 "[    1.0] Call Trace:\n[    1.0]  odd_check+0x1/0x2\n") == "WARNING: odd state detected in odd_check");
}

TEST_CASE("page faults in 4.x, 5.x+ and arm64 spellings name the faulting function") {
  const char* old =
      "[  772.9] BUG: unable to handle kernel paging request at ffff88002bde1e40\n"
      "[  772.9] IP: [<ffffffff82d4e304>] __memset+0x24/0x30\n"
      "[  772.9] Oops: 0002 [#1] SMP KASAN\n"
      "[  772.9] RIP: 0010:[<ffffffff82d4e304>]  [<ffffffff82d4e304>] __memset+0x24/0x30\n"
      "[  772.9] Call Trace:\n"
      "[  772.9]  [<ffffffff81234567>] ? kasan_report+0x1/0x2\n"
      "[  772.9]  [<ffffffff81234567>] ext4_fill_super+0x1/0x2\n";
  auto scan = scan_console(old);
  REQUIRE(scan.crash);
  CHECK(scan.crash->kind == CrashKind::PageFault);
  CHECK(scan.crash->title == "BUG: unable to handle kernel paging request in ext4_fill_super");
  CHECK(scan.crash->alt_titles[0] == "BUG: unable to handle page fault in ext4_fill_super");
  CHECK(title_of("[    5.0] Unable to handle kernel NULL pointer dereference at virtual address 0000000000000008\n"
                 "[    5.0] Internal error: Oops: 96000006 [#1] PREEMPT SMP\n"
                 "[    5.0] pc : foo_probe+0x1c/0x40\n[    5.0] lr : foo_init+0x1/0x2\n") ==
        "Unable to handle kernel NULL pointer dereference in foo_probe");
  // 6.x puts "Oops: " in front of the trap's name.
  auto gpf = scan_console("[   89.1][ T5827] Oops: general protection fault, probably for non-canonical address "
                          "0xdffffc0000000004: 0000 [#1] SMP KASAN PTI\n"
                          "[   89.1][ T5827] RIP: 0010:nla_put_thing+0x1/0x2\n");
  REQUIRE(gpf.crash);
  CHECK(gpf.crash->title == "general protection fault in nla_put_thing");
  auto div = scan_console("[    9.0] Oops: divide error: 0000 [#1] PREEMPT SMP\n[    9.0] RIP: 0010:calc_ratio+0x1/0x2\n");
  REQUIRE(div.crash);
  CHECK(div.crash->kind == CrashKind::DivideError);
  CHECK(div.crash->title == "divide error in calc_ratio");
}

TEST_CASE("a kmemleak report is blamed on the allocator's first caller") {
  const char* log =
      "unreferenced object 0xffff888109a3c000 (size 64):\n"
      "  comm \"sh\", pid 27, jiffies 4294937296 (age 12.340s)\n"
      "  hex dump (first 32 bytes):\n"
      "    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................\n"
      "  backtrace:\n"
      "    [<ffffffff8123>] kmalloc_trace+0x26/0x60\n"
      "    [<ffffffff8124>] widget_create+0x3a/0x90\n"
      "    [<ffffffff8125>] widget_ioctl+0x1/0x2\n"
      "\n";
  auto scan = scan_console(log);
  REQUIRE(scan.crash);
  CHECK(scan.crash->kind == CrashKind::MemoryLeak);
  CHECK(scan.crash->title == "memory leak in widget_create");
}

TEST_CASE("a stall is blamed on the work just inside the loop that ran it") {
  const char* log =
      "[  323.8] INFO: rcu_sched detected stalls on CPUs/tasks:\n"
      "[  323.8] Call Trace:\n"
      "[  323.8]  <IRQ>\n"
      "[  323.8]  sched_show_task+0x1/0x2\n"
      "[  323.8]  print_other_cpu_stall+0x1/0x2\n"
      "[  323.8]  rcu_check_callbacks+0x1/0x2\n"
      "[  323.8]  update_process_times+0x1/0x2\n"
      "[  323.8]  apic_timer_interrupt+0x1/0x2\n"
      "[  323.8] RIP: 0010:__sanitizer_cov_trace_pc+0x0/0x50\n"
      "[  323.8] RSP: 0018:ffff8801db206738 EFLAGS: 00000206\n"
      "[  323.8]  decode_session+0x1/0x2\n"
      "[  323.8]  policy_check+0x1/0x2\n"
      "[  323.8]  proto_rcv+0x1/0x2\n"
      "[  323.8]  __netif_receive_skb_core+0x1/0x2\n"
      "[  323.8]  net_rx_action+0x1/0x2\n"
      "[  323.8]  __do_softirq+0x1/0x2\n"
      "[  323.8]  </IRQ>\n";
  CHECK(title_of(log) == "INFO: rcu detected stall in proto_rcv");
}

TEST_CASE("text glued before a printk line is cut at its timestamp, but only on consoles without syslog prefixes") {
  // A UART that dropped a newline: the report behind the junk still counts.
  CHECK(title_of("syzkaller login: [   35.1] BUG: using smp_processor_id() in preemptible [00000000] code: sh/1\n"
                 "[   35.1] caller is ext4_mb_new_blocks+0x1/0x2\n") ==
        "BUG: using smp_processor_id() in ext4_mb_new_blocks");
  // On a console_msg_format=syslog console each record has its own line: a timestamp inside a
  // kernel record is text it quotes (a file name, a comm), not a second record.
  CHECK(title_of("<6>[    1.0] EXT4-fs: mounted '[    2.0] BUG: forged by a file name'\n") == "(no crash)");
}
