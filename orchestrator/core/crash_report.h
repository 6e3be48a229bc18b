#pragma once
// Crash detection over a kernel serial-console log: finds the first crash report (oops, BUG,
// WARNING, panic, KASAN, lockups, stalls, hung tasks...), names it with a stable title in
// syzkaller's style ("kernel BUG in lkdtm_BUG") and picks its guilty frame. OOM kills and
// fault-injection messages are events, not crashes. The signature table and title rules are
// in docs/crash-detection.md. Input is untrusted bytes: scanning is linear and never throws.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fb {

enum class CrashKind {
  Bug,           // "kernel BUG at", generic "BUG: ...", SLUB "BUG <cache> (...): ..."
  PageFault,     // "BUG: unable to handle page fault for address" / "...kernel paging request at"
  NullDeref,     // "BUG: kernel NULL pointer dereference" / "...unable to handle kernel NULL pointer..."
  GeneralProtection,
  DivideError,   // "divide error: 0000" (also behind 6.x's "Oops: ")
  Oops,          // a bare "Oops:", "invalid opcode:", double fault, stack segment, int3...
  Panic,         // "Kernel panic - not syncing:" with no earlier report
  Warning,
  Kasan,
  Kmsan,
  Kfence,
  Kcsan,
  Ubsan,
  Lockdep,       // possible deadlock, inconsistent lock state, bad unlock balance, suspicious RCU usage...
  SpinlockDebug, // "BUG: spinlock lockup suspected", "BUG: spinlock bad magic", "BUG: rwlock ..."
  MemoryLeak,    // kmemleak's "unreferenced object"
  HungTask,
  RcuStall,
  SoftLockup,
  HardLockup,
  Vfs,           // "VFS: Busy inodes after unmount", "VFS: Close: file count is zero"
};

enum class ConsoleEventKind {
  OomKill,         // "Out of memory: Killed process ..." (the kernel recovered)
  FaultInjection,  // "FAULT_INJECTION: forcing a failure." (an injected fault, not a bug)
};

const char* to_string(CrashKind kind);
const char* to_string(ConsoleEventKind kind);

struct CrashReport {
  CrashKind kind;
  std::string title;         // stable across runs: no addresses, offsets, timestamps, PIDs
  std::string guilty_frame;  // empty when no frame of the report could be blamed
  // The report is cut or garbled where its frame should be (no trace, a trace of nothing but
  // machinery): the title then names no frame rather than a guess.
  bool corrupted = false;
  // The same crash as other kernel versions or neighbouring report kinds title it (older
  // spellings, the report family "bad memory access in f"), for matching across versions.
  std::vector<std::string> alt_titles;
  std::string report;        // the console lines of this crash, '\n'-separated
  std::size_t first_line = 0;  // 1-based line numbers of the report in the log
  std::size_t last_line = 0;
};

struct ConsoleEvent {
  ConsoleEventKind kind;
  std::string text;  // the console line without its timestamp, shortened
  std::size_t line = 0;
};

struct ConsoleScan {
  std::optional<CrashReport> crash;  // the first crash in the log
  std::vector<ConsoleEvent> events;  // at most kMaxEvents, in log order
  std::size_t events_dropped = 0;    // events seen beyond that cap
  static constexpr std::size_t kMaxEvents = 100;
};

// A line whose "<N>" prefix names a facility other than the kernel's (N >= 8) was written by
// user space to /dev/kmsg (faultbox boots its guests with console_msg_format=syslog, so every
// printk line carries one): it is skipped, so a workload printing "Kernel panic - not syncing:
// ..." cannot name the crash. Lines without the prefix are taken as they are.
ConsoleScan scan_console(std::string_view log);

// Tasks in uninterruptible sleep as listed by the last "sysrq: Show Blocked State" in the log,
// as "comm (pid N)". Empty when sysrq-w was not pressed or listed nothing.
std::vector<std::string> blocked_tasks(std::string_view log);

// One console line split into what printk prepends and the message itself. Exposed for tests.
struct ConsoleLine {
  int prio = -1;            // "<N>" (dmesg -r, console_msg_format=syslog): facility * 8 + level; -1 when absent
  std::string_view caller;  // "T123" or "C1" (CONFIG_PRINTK_CALLER), empty when absent
  std::string_view text;    // after "<N>", "[    1.234567]" and "[ T123]"
};
ConsoleLine split_console_prefix(std::string_view line);

// Whether a call-trace function is machinery (reporting, exception entry, fault injection,
// syscall and LKDTM plumbing, locks, allocators, string helpers) rather than a place to blame
// (the tables are in crash_frames.cpp). Exposed for tests.
bool is_machinery_frame(std::string_view function);

}  // namespace fb
