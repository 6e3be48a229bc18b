// Crash detection over a serial-console log. The idea follows syzkaller's pkg/report/linux.go
// (a table of report headers, the first report wins, titles built from a guilty frame with
// machinery frames skipped), written without regular expressions: every check is a bounded
// substring test on a line capped at kMaxLineBytes, so arbitrary bytes cannot make it slow.
#include "orchestrator/core/crash_report.h"

#include "orchestrator/core/crash_frames.h"
#include "orchestrator/core/printable.h"

#include <algorithm>
#include <cctype>
#include <array>
#include <cstring>

namespace fb {

namespace {

using std::string_view;

constexpr std::size_t kMaxLineBytes = 1024;     // printk lines are shorter; longer ones are garbage
constexpr std::size_t kMaxReportLines = 300;    // a report longer than this is cut
constexpr std::size_t kMaxScanLines = 5000;     // lines looked at after a report starts
constexpr std::size_t kCutHereWindow = 3;       // "[ cut here ]" this close before a header belongs to it
constexpr std::size_t kMaxTitleBytes = 160;
constexpr std::size_t kMaxEventBytes = 200;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_word(char c) { return is_alpha(c) || is_digit(c) || c == '_'; }
bool is_symbol_char(char c) { return is_word(c) || c == '.' || c == '$'; }
bool contains(string_view s, string_view part) { return s.find(part) != string_view::npos; }

string_view trim_left(string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}
string_view trim(string_view s) {
  s = trim_left(s);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// ---- lines ---------------------------------------------------------------------------------

// Walks the log line by line without copying; a line's bytes past kMaxLineBytes are ignored.
class LineCursor {
 public:
  explicit LineCursor(string_view log, std::size_t offset = 0, std::size_t number = 0)
      : log_(log), pos_(offset), number_(number) {}
  bool next(string_view& line) {
    if (pos_ >= log_.size()) return false;
    std::size_t end = log_.find('\n', pos_);
    if (end == string_view::npos) end = log_.size();
    line = log_.substr(pos_, end - pos_);
    offset_ = pos_;
    pos_ = end + 1;
    ++number_;
    if (line.size() > kMaxLineBytes) line = line.substr(0, kMaxLineBytes);
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return true;
  }
  std::size_t number() const { return number_; }  // 1-based number of the last line returned
  std::size_t offset() const { return offset_; }  // where the last line returned starts
  std::size_t next_offset() const { return pos_; }  // where the line after it starts

 private:
  string_view log_;
  std::size_t pos_, number_, offset_ = 0;
};

// "[    1.234567]" at the start of s: its length, or 0.
std::size_t timestamp_length(string_view s) {
  std::size_t i = 0;
  if (s.empty() || s[i] != '[') return 0;
  ++i;
  while (i < s.size() && s[i] == ' ') ++i;
  std::size_t digits = 0;
  while (i < s.size() && is_digit(s[i]) && digits < 12) ++i, ++digits;
  if (digits == 0 || i >= s.size() || s[i] != '.') return 0;
  ++i;
  digits = 0;
  while (i < s.size() && is_digit(s[i]) && digits < 9) ++i, ++digits;
  if (digits == 0 || i >= s.size() || s[i] != ']') return 0;
  return i + 1;
}

// "[ T123]" / "[  C1]" (CONFIG_PRINTK_CALLER) at the start of s: its length, or 0.
std::size_t caller_length(string_view s, string_view& id) {
  std::size_t i = 0;
  if (s.empty() || s[i] != '[') return 0;
  ++i;
  while (i < s.size() && s[i] == ' ' && i < 8) ++i;
  if (i >= s.size() || (s[i] != 'T' && s[i] != 'C')) return 0;
  std::size_t id_start = i++;
  std::size_t digits = 0;
  while (i < s.size() && is_digit(s[i]) && digits < 10) ++i, ++digits;
  if (digits == 0 || i >= s.size() || s[i] != ']') return 0;
  id = s.substr(id_start, i - id_start);
  return i + 1;
}

// Lines that are no kernel output: corpus headers and shell prompts echoed on the console.
bool is_comment(string_view text) { return text.size() >= 2 && text[0] == '#' && text[1] == ' '; }
// A record user space wrote to /dev/kmsg: devkmsg_write never gives it the kernel's facility 0.
bool written_by_user(const ConsoleLine& line) { return line.prio >= 8; }

// ---- frames --------------------------------------------------------------------------------

// "name+0x1f/0x30" at the start of s: the name, or empty. Accepts a missing offset only when
// allow_bare is set (KASAN headers and inlined frames print just the name).
string_view parse_symbol(string_view s, bool allow_bare = false) {
  std::size_t i = 0;
  while (i < s.size() && is_symbol_char(s[i])) ++i;
  if (i == 0 || !(is_alpha(s[0]) || s[0] == '_')) return {};
  string_view name = s.substr(0, i);
  string_view rest = s.substr(i);
  if (rest.substr(0, 3) != "+0x") return allow_bare && (rest.empty() || rest[0] == ' ') ? name : string_view{};
  std::size_t j = 3, hex = 0;
  while (j < rest.size() && is_hex(rest[j])) ++j, ++hex;
  if (hex == 0 || rest.substr(j, 3) != "/0x") return {};
  j += 3;
  hex = 0;
  while (j < rest.size() && is_hex(rest[j])) ++j, ++hex;
  if (hex == 0 || (j < rest.size() && !std::strchr(" )]([", rest[j]))) return {};
  return name;
}

// Compiler suffixes (".isra.0", ".constprop.0", ".cold") change between builds; titles must not.
string_view base_function(string_view name) {
  auto dot = name.find('.');
  return dot == string_view::npos ? name : name.substr(0, dot);
}

// "path/file.c:123" (a source position a symbolizer added): whether s opens with one.
bool is_source_position(string_view s) {
  std::size_t colon = s.find(':');
  if (colon == string_view::npos || colon < 3 || colon > 200) return false;
  string_view file = s.substr(0, colon);
  if (file.find(' ') != string_view::npos) return false;
  bool source = file.size() > 2 && (file.substr(file.size() - 2) == ".c" || file.substr(file.size() - 2) == ".h" ||
                                    file.substr(file.size() - 2) == ".S" || file.substr(file.size() - 3) == ".rs");
  return source && colon + 1 < s.size() && is_digit(s[colon + 1]);
}

struct TraceFrame {
  string_view function;
  bool questionable = false;  // " ? name": a stale return address the unwinder was unsure of
};

// A call-trace line: "  name+0x1/0x2", " ? name+0x1/0x2", "  [<ffffffff81>] name+0x1/0x2 [mod]",
// an inlined frame a symbolizer added ("  name path/file.c:12 [inline]") and ARM's
// "[<c0123>] (name+0x1/0x2) from [<c0456>] (caller+0x3/0x4)".
bool parse_trace_frame(string_view text, TraceFrame& frame) {
  string_view s = trim_left(text);
  frame.questionable = false;
  if (s.substr(0, 2) == "? ") {
    frame.questionable = true;
    s.remove_prefix(2);
  }
  if (s.substr(0, 1) == "[") {  // "[<ffffffff81>] " (x86, arm) or "[c0000000] [c0000001] " (powerpc)
    for (int n = 0; n < 2 && s.substr(0, 1) == "["; ++n) {
      auto close = s.find("] ");
      if (close == string_view::npos || close > 24) return false;
      string_view inside = s.substr(1, close - 1);
      if (!inside.empty() && inside.front() == '<') inside = inside.substr(1, inside.size() - 2);
      if (inside.empty() || !std::all_of(inside.begin(), inside.end(), is_hex)) return false;
      s = trim_left(s.substr(close + 2));
    }
    if (s.substr(0, 2) == "? ") {
      frame.questionable = true;
      s.remove_prefix(2);
    }
    if (s.substr(0, 1) == "(") {  // ARM: "(name) from [<...>] (caller+0x1/0x2)"
      s.remove_prefix(1);
      std::size_t n = 0;
      while (n < s.size() && is_symbol_char(s[n])) ++n;
      if (n > 0 && n < s.size() && s[n] == ')' && (is_alpha(s[0]) || s[0] == '_')) {
        frame.function = s.substr(0, n);
        return true;
      }
    }
  }
  frame.function = parse_symbol(s);
  if (frame.function.empty()) {  // "name path/file.c:12 [inline]" or "name+0x1/0x2 file.c:3"
    string_view name = parse_symbol(s, true);
    if (name.empty() || name.size() + 1 >= s.size() || !is_source_position(s.substr(name.size() + 1))) return false;
    frame.function = name;
  }
  return true;
}

// The faulting instruction's function from a register dump: x86 "RIP: 0010:name+0x1/0x2" (and
// 4.x's "RIP: 0010:[<addr>]  [<addr>] name+0x1/0x2", "IP: [<addr>] name"), i386 "EIP:", arm
// "PC is at name+0x", arm64 "pc : name+0x". Empty for user-mode registers or a bare address.
string_view parse_pc_line(string_view text) {
  string_view s = trim_left(text);
  string_view rest;
  for (string_view p : {"RIP: 0010:", "EIP: 0060:", "RIP: ", "EIP: ", "IP: ", "PC is at ", "pc : ", "NIP:  ", "NIP [", "epc   : "})
    if (s.substr(0, p.size()) == p) {
      if (p == "RIP: " && s.substr(5, 5) == "0033:") return {};  // user mode
      rest = s.substr(p.size());
      break;
    }
  if (rest.empty()) return {};
  // Skip "[<ffffffff81234567>]" address brackets and spaces in front of the symbol.
  for (int guard = 0; guard < 4; ++guard) {
    rest = trim_left(rest);
    if (rest.substr(0, 2) != "[<") break;
    auto close = rest.find(">]");
    if (close == string_view::npos || close > 24) return {};
    rest.remove_prefix(close + 2);
  }
  if (rest.substr(0, 1) == "]") rest = trim_left(rest.substr(1));
  return parse_symbol(rest);
}

// ---- signatures ----------------------------------------------------------------------------

// How a report's title is made from its header line and guilty frame.
enum class TitleRule {
  Fixed,      // signature title + " in <frame>"
  Worded,     // the kernel's word before the marker ("BUG"/"WARNING"/"INFO") + ": " + title + " in <frame>"
  Sanitizer,  // "KASAN: <bug type> [Read|Write] in <frame>", likewise KMSAN, KFENCE, KCSAN, UBSAN
  KernelBug,  // "kernel BUG in <frame>" (or the list/usercopy special cases)
  Warning,    // "WARNING in <frame>" from "WARNING: CPU: n PID: n at file:line func"
  Panic,      // "kernel panic: <message>"
  Generic,    // "<marker> <headline> in <frame>": "BUG: <message> in <frame>"...
  Slub,       // SLUB debug: "BUG kmalloc-64 (Not tainted): Object already free" -> "BUG: Object already free in <frame>"
};

// Where the guilty frame comes from.
enum class FrameRule {
  Trace,    // the header's function, the faulting PC, then the call trace
  Lock,     // lockdep: the function that took (or released) the lock in question, then the trace
  Stall,    // the interrupted code, just inside the innermost dispatcher (softirq, timer, syscall)
  Waiter,   // a hung task: the first frame past the scheduler, the waits and the lock it sleeps on
  Leak,     // kmemleak: the first caller of the allocator in the object's backtrace
  None,     // the report has no stack of its own (VFS self-checks, panics)
};

struct CrashSignature {
  string_view marker;  // text that opens a report
  CrashKind kind;
  bool line_start;     // the marker must open the message (generic headers); else anywhere
  TitleRule rule;
  string_view title = {};       // Fixed/Worded: the title before " in <frame>"; Sanitizer: the tool
  string_view also_needs = {};  // a second text the line must contain
  FrameRule frames = FrameRule::Trace;
  // Generic headers ("BUG: ", "WARNING: ") are printed by drivers too; they open a report only
  // when a stack or register dump follows (or the log ends right after them, for "BUG: ").
  bool needs_evidence = false;
  // Lockdep headers: only behind nothing or the kernel's "BUG:"/"WARNING:"/"INFO:".
  bool worded = false;
  string_view alt = {};  // the same crash's title stem in other kernel versions
};

// First match wins, so specific headers come before the generic "BUG: " / "WARNING: ".
constexpr std::array kSignatures = {
    CrashSignature{"BUG: KASAN: ", CrashKind::Kasan, false, TitleRule::Sanitizer, "KASAN"},
    CrashSignature{"BUG: KMSAN: ", CrashKind::Kmsan, false, TitleRule::Sanitizer, "KMSAN"},
    CrashSignature{"BUG: KFENCE: ", CrashKind::Kfence, false, TitleRule::Sanitizer, "KFENCE"},
    CrashSignature{"BUG: KCSAN: ", CrashKind::Kcsan, false, TitleRule::Sanitizer, "KCSAN"},
    CrashSignature{"UBSAN: ", CrashKind::Ubsan, false, TitleRule::Sanitizer, "UBSAN"},
    // lockdep and its neighbours, in the spellings of 3.x ("[ INFO: ... ]") to 6.x ("WARNING: ...")
    CrashSignature{"possible circular locking dependency detected", CrashKind::Lockdep, false, TitleRule::Fixed,
                   "possible deadlock", {}, FrameRule::Lock, false, true},
    CrashSignature{"possible recursive locking detected", CrashKind::Lockdep, false, TitleRule::Fixed,
                   "possible deadlock", {}, FrameRule::Lock, false, true},
    CrashSignature{"possible irq lock inversion dependency detected", CrashKind::Lockdep, false, TitleRule::Fixed,
                   "possible deadlock", {}, FrameRule::Lock, false, true},
    CrashSignature{"-safe -> ", CrashKind::Lockdep, false, TitleRule::Fixed, "possible deadlock",
                   "-unsafe lock order detected", FrameRule::Lock, false, true},
    CrashSignature{"inconsistent lock state", CrashKind::Lockdep, false, TitleRule::Fixed, "inconsistent lock state",
                   {}, FrameRule::Lock, false, true},
    CrashSignature{"bad unlock balance detected", CrashKind::Lockdep, false, TitleRule::Worded, "bad unlock balance",
                   {}, FrameRule::Lock, false, true},
    CrashSignature{"held lock freed", CrashKind::Lockdep, false, TitleRule::Worded, "held lock freed", {},
                   FrameRule::Lock, false, true},
    CrashSignature{"still has locks held", CrashKind::Lockdep, false, TitleRule::Worded, "still has locks held", {},
                   FrameRule::Lock, false, true},
    CrashSignature{"lock held when returning to user space", CrashKind::Lockdep, false, TitleRule::Worded,
                   "lock held when returning to user space", {}, FrameRule::Lock, false, true},
    CrashSignature{"nested lock was not taken", CrashKind::Lockdep, false, TitleRule::Worded,
                   "nested lock was not taken", {}, FrameRule::Trace, false, true},
    CrashSignature{"trying to register non-static key", CrashKind::Lockdep, false, TitleRule::Worded,
                   "trying to register non-static key", {}, FrameRule::Trace, false, true},
    CrashSignature{"suspicious RCU usage", CrashKind::Lockdep, false, TitleRule::Worded, "suspicious RCU usage", {},
                   FrameRule::Trace, false, true},
    CrashSignature{"Invalid wait context", CrashKind::Lockdep, false, TitleRule::Worded, "Invalid wait context", {},
                   FrameRule::Trace, false, true},
    CrashSignature{"lock held at task exit time", CrashKind::Lockdep, false, TitleRule::Worded,
                   "lock held at task exit time", {}, FrameRule::Trace, false, true},
    // kmemleak (the object dump of /sys/kernel/debug/kmemleak, or a harness's "BUG: memory leak")
    CrashSignature{"unreferenced object", CrashKind::MemoryLeak, true, TitleRule::Fixed, "memory leak", {},
                   FrameRule::Leak},
    CrashSignature{"BUG: memory leak", CrashKind::MemoryLeak, false, TitleRule::Fixed, "memory leak", {},
                   FrameRule::Leak},
    // page faults: 4.x spells them "unable to handle kernel ...", 5.x+ "unable to handle page fault"
    CrashSignature{"BUG: unable to handle kernel NULL pointer dereference", CrashKind::NullDeref, false,
                   TitleRule::Fixed, "BUG: unable to handle kernel NULL pointer dereference", {}, FrameRule::Trace,
                   false, false, "BUG: kernel NULL pointer dereference"},
    CrashSignature{"BUG: kernel NULL pointer dereference", CrashKind::NullDeref, false, TitleRule::Fixed,
                   "BUG: kernel NULL pointer dereference", {}, FrameRule::Trace, false, false,
                   "BUG: unable to handle kernel NULL pointer dereference"},
    CrashSignature{"BUG: unable to handle kernel paging request", CrashKind::PageFault, false, TitleRule::Fixed,
                   "BUG: unable to handle kernel paging request", {}, FrameRule::Trace, false, false,
                   "BUG: unable to handle page fault"},
    CrashSignature{"BUG: unable to handle page fault", CrashKind::PageFault, false, TitleRule::Fixed,
                   "BUG: unable to handle page fault", {}, FrameRule::Trace, false, false,
                   "BUG: unable to handle kernel paging request"},
    CrashSignature{"BUG: unable to handle kernel", CrashKind::PageFault, false, TitleRule::Fixed,
                   "BUG: unable to handle kernel"},
    CrashSignature{"Unable to handle kernel NULL pointer dereference", CrashKind::NullDeref, false, TitleRule::Fixed,
                   "Unable to handle kernel NULL pointer dereference", {}, FrameRule::Trace, false, false,
                   "BUG: kernel NULL pointer dereference"},
    CrashSignature{"Unable to handle kernel paging request", CrashKind::PageFault, false, TitleRule::Fixed,
                   "Unable to handle kernel paging request", {}, FrameRule::Trace, false, false,
                   "BUG: unable to handle page fault"},
    CrashSignature{"Unable to handle kernel ", CrashKind::PageFault, true, TitleRule::Generic},
    CrashSignature{"BUG: soft lockup", CrashKind::SoftLockup, false, TitleRule::Fixed, "BUG: soft lockup", {},
                   FrameRule::Stall},
    CrashSignature{"Watchdog detected hard LOCKUP", CrashKind::HardLockup, false, TitleRule::Fixed, "hard lockup",
                   {}, FrameRule::Stall},
    CrashSignature{"self-detected stall on CPU", CrashKind::RcuStall, false, TitleRule::Fixed,
                   "INFO: rcu detected stall", "rcu", FrameRule::Stall},
    CrashSignature{"detected stalls on CPUs/tasks", CrashKind::RcuStall, false, TitleRule::Fixed,
                   "INFO: rcu detected stall", "rcu", FrameRule::Stall},
    CrashSignature{"detected expedited stalls on CPUs/tasks", CrashKind::RcuStall, false, TitleRule::Fixed,
                   "INFO: rcu detected stall", "rcu", FrameRule::Stall},
    CrashSignature{"detected stalls on tasks", CrashKind::RcuStall, false, TitleRule::Fixed,
                   "INFO: rcu detected stall", "rcu", FrameRule::Stall},
    CrashSignature{"INFO: task ", CrashKind::HungTask, false, TitleRule::Fixed, "INFO: task hung",
                   " for more than ", FrameRule::Waiter},
    CrashSignature{"BUG: spinlock ", CrashKind::SpinlockDebug, true, TitleRule::Generic},
    CrashSignature{"BUG: rwlock ", CrashKind::SpinlockDebug, true, TitleRule::Generic},
    CrashSignature{"general protection fault", CrashKind::GeneralProtection, false, TitleRule::Fixed,
                   "general protection fault"},
    CrashSignature{"kernel BUG at ", CrashKind::Bug, false, TitleRule::KernelBug},
    // the scheduler found the task's stack overrun: the work the task was doing names it
    CrashSignature{"Kernel panic - not syncing: corrupted stack end", CrashKind::Panic, false, TitleRule::Panic, {},
                   {}, FrameRule::Stall},
    CrashSignature{"Kernel panic - not syncing: ", CrashKind::Panic, false, TitleRule::Panic},
    CrashSignature{"PANIC: double fault", CrashKind::Oops, false, TitleRule::Fixed, "PANIC: double fault"},
    CrashSignature{"VFS: Busy inodes after unmount", CrashKind::Vfs, true, TitleRule::Fixed,
                   "VFS: Busy inodes after unmount", {}, FrameRule::None},
    CrashSignature{"VFS: Close: file count is ", CrashKind::Vfs, true, TitleRule::Fixed,
                   "VFS: Close: file count is zero", {}, FrameRule::None},
    // the unwinder's own complaints: the stack it was asked to walk is corrupt
    CrashSignature{"WARNING: kernel stack regs at ", CrashKind::Warning, true, TitleRule::Fixed,
                   "WARNING: kernel stack regs has bad value", {}, FrameRule::None},
    CrashSignature{"WARNING: kernel stack frame pointer at ", CrashKind::Warning, true, TitleRule::Fixed,
                   "WARNING: kernel stack frame pointer has bad value", {}, FrameRule::None},
    // SLUB's object tracking lines, printed only inside a slab report whose header was lost
    CrashSignature{"INFO: Allocated in ", CrashKind::Bug, true, TitleRule::Fixed, "INFO: Allocated"},
    CrashSignature{"INFO: Freed in ", CrashKind::Bug, true, TitleRule::Fixed, "INFO: Freed"},
    // a device whose last reference never goes: the unregistering task waits for ever
    CrashSignature{"unregister_netdevice: waiting for ", CrashKind::HungTask, true, TitleRule::Fixed,
                   "unregister_netdevice: waiting for device to become free", "to become free", FrameRule::None},
    CrashSignature{"WARNING: CPU: ", CrashKind::Warning, false, TitleRule::Warning},
    CrashSignature{"WARNING: at ", CrashKind::Warning, true, TitleRule::Warning},  // 2.6/3.x
    CrashSignature{"WARNING: ", CrashKind::Warning, true, TitleRule::Warning, {}, ".c:"},  // 6.x "WARNING: f.c:1 at g"
    CrashSignature{"WARNING: ", CrashKind::Warning, true, TitleRule::Generic, {}, {}, FrameRule::Trace, true},
    CrashSignature{"BUG: ", CrashKind::Bug, true, TitleRule::Generic, {}, {}, FrameRule::Trace, true},
    CrashSignature{"BUG ", CrashKind::Bug, true, TitleRule::Slub, {}, "ainted", FrameRule::Trace, true},
    CrashSignature{"stack segment: ", CrashKind::Oops, true, TitleRule::Fixed, "stack segment fault"},
    CrashSignature{"divide error: ", CrashKind::DivideError, true, TitleRule::Fixed, "divide error"},
    CrashSignature{"divide_error: ", CrashKind::DivideError, true, TitleRule::Fixed, "divide error"},
    CrashSignature{"invalid opcode: ", CrashKind::Oops, true, TitleRule::Fixed, "invalid opcode"},
    CrashSignature{"int3: ", CrashKind::Oops, true, TitleRule::Fixed, "int3"},
    CrashSignature{"Unhandled fault: ", CrashKind::Oops, true, TitleRule::Fixed, "Unhandled fault"},
    CrashSignature{"Internal error: ", CrashKind::Oops, true, TitleRule::Generic},
    CrashSignature{"Oops: ", CrashKind::Oops, true, TitleRule::Fixed, "Oops"},
};

// Nothing, or the kernel's "BUG:" / "WARNING:" / "INFO:" in front of a lockdep marker (3.x-4.x
// wrap them as "[ INFO: ... ]" and put the task between: "[ BUG: sh/26 still has locks held! ]").
bool lockdep_prefix_ok(string_view before) {
  before = trim(before);
  return before.empty() || before == "[" || contains(before, "BUG:") || contains(before, "WARNING:") ||
         contains(before, "INFO:");
}

// Where the signature's marker sits in text, or npos. A marker found inside a longer word
// ("xBUG: ") does not count.
std::size_t marker_position(const CrashSignature& sig, string_view text) {
  if (sig.line_start) return text.substr(0, sig.marker.size()) == sig.marker ? 0 : string_view::npos;
  for (std::size_t from = 0;;) {
    std::size_t at = text.find(sig.marker, from);
    if (at == string_view::npos) return at;
    if (at == 0 || !is_word(text[at - 1]) || sig.marker[0] == '-') return at;
    from = at + 1;
  }
}

// 6.x prints "Oops: general protection fault, ...", "Oops: divide error: 0000": the text after
// "Oops: " names the report when it is more than the bare error code.
string_view behind_oops(string_view text) {
  if (text.substr(0, 6) != "Oops: " || text.size() < 8) return text;
  string_view rest = text.substr(6);
  return is_hex(rest[0]) && is_hex(rest[1]) ? text : rest;
}

// Text glued in front of a printk line ("syzkaller login: [   35.1] BUG: ...", "** 12 printk
// messages dropped ** [   60.1] INFO: ..."): the message after the last embedded timestamp.
string_view after_glued_timestamp(string_view text) {
  string_view found;
  for (std::size_t at = text.find('[', 1); at != string_view::npos; at = text.find('[', at + 1)) {
    if (std::size_t n = timestamp_length(text.substr(at)); n != 0) {
      found = text.substr(at + n);
      string_view id;
      if (found.substr(0, 1) == "[") found.remove_prefix(caller_length(found, id));
      if (found.substr(0, 1) == " ") found.remove_prefix(1);
    }
  }
  return found;
}

const CrashSignature* match_in(string_view text);

// Only a line without a syslog prefix may carry glued text: on a console_msg_format=syslog
// console every kernel record starts its own line, and text a record quotes stays its text.
const CrashSignature* match_signature(const ConsoleLine& line) {
  string_view text = line.text;
  if (const CrashSignature* sig = match_in(text)) return sig;
  if (line.prio >= 0) return nullptr;
  string_view glued = after_glued_timestamp(text);
  return glued.empty() ? nullptr : match_in(glued);
}

const CrashSignature* match_in(string_view text) {
  // Userspace faults reported by the kernel ("traps: sh[26] general protection fault ip:...")
  // are about a process, not the kernel.
  if (contains(text, "traps: ") || contains(text, " segfault at ")) return nullptr;
  text = behind_oops(text);
  for (const auto& sig : kSignatures) {
    std::size_t at = marker_position(sig, text);
    if (at == string_view::npos) continue;
    if (!sig.also_needs.empty() && !contains(text, sig.also_needs)) continue;
    if (sig.worded && !lockdep_prefix_ok(text.substr(0, at))) continue;
    return &sig;
  }
  return nullptr;
}

// ---- titles --------------------------------------------------------------------------------

// A token that names an address, a number, a CPU or a task: different on every run.
bool is_run_specific(string_view tok) {
  while (!tok.empty() && std::strchr(",.:;!()", tok.back())) tok.remove_suffix(1);
  while (!tok.empty() && tok.front() == '(') tok.remove_prefix(1);
  if (tok.empty()) return false;
  if (tok.front() == '[' && tok.back() == ']') return true;  // "[sh:26]", "[#1]", "[lkdtm]"
  if (tok.substr(0, 2) == "0x" || tok.substr(0, 2) == "0X") return true;
  if (std::all_of(tok.begin(), tok.end(), is_digit)) return true;
  std::size_t hex = 0;
  while (hex < tok.size() && is_hex(tok[hex])) ++hex;
  if (hex >= 8 && (hex == tok.size() || tok[hex] == '{')) return true;  // "ffff8880{i=0,n=/}"
  for (std::size_t i = 0; i + 1 < tok.size(); ++i) {  // "CPU#0", "exitcode=0x9", "pid:26", "mm:ffff8880..."
    if (tok[i] != '#' && tok[i] != '=' && tok[i] != ':') continue;
    string_view value = tok.substr(i + 1);
    if (is_digit(value[0]) || (value.size() >= 8 && std::all_of(value.begin(), value.end(), is_hex))) return true;
  }
  return false;
}

// A kernel message made stable: no embedded timestamps, offsets, addresses or numbers.
std::string stable_message(string_view msg) {
  std::string out;
  std::size_t i = 0;
  while (i < msg.size()) {
    while (i < msg.size() && (msg[i] == ' ' || msg[i] == '\t')) ++i;
    if (i >= msg.size()) break;
    if (std::size_t ts = timestamp_length(msg.substr(i)); ts != 0) {
      i += ts;
      continue;
    }
    std::size_t end = i;
    while (end < msg.size() && msg[end] != ' ' && msg[end] != '\t') ++end;
    string_view tok = msg.substr(i, end - i);
    i = end;
    if (auto plus = tok.find("+0x"); plus != string_view::npos && plus > 0 && !parse_symbol(tok).empty())
      tok = tok.substr(0, plus);  // "func+0x1/0x2" -> "func"
    if (is_run_specific(tok)) continue;
    if (!out.empty()) out += ' ';
    out.append(tok);
    if (out.size() > kMaxTitleBytes) break;
  }
  while (!out.empty() && std::strchr(" .,:;", out.back())) out.pop_back();
  return printable(out, kMaxTitleBytes);
}

// The headline part of a generic message: "scheduling while atomic: sh/26/0x2" -> "scheduling
// while atomic". What follows these separators is detail that differs between runs.
string_view headline(string_view msg) {
  std::size_t cut = msg.size();
  for (string_view sep : {": ", " - ", " at ", " in ", ", ", "! ", " on CPU", " for address", " (", " ["})
    cut = std::min(cut, msg.find(sep));
  return msg.substr(0, cut);
}

std::string with_frame(std::string title, const std::string& frame) {
  if (!frame.empty()) title += " in " + frame;
  return title;
}

// ---- report assembly -----------------------------------------------------------------------

struct ReportLine {
  string_view raw;
  string_view text;
  std::size_t number;
};

bool starts_with_register_name(string_view s) {
  // "RAX:", "CR2:", "FS:", "PKRU:", "R08:" ...: the register dump around a trace.
  std::size_t i = 0;
  while (i < s.size() && i < 6 && (is_digit(s[i]) || (s[i] >= 'A' && s[i] <= 'Z'))) ++i;
  return i >= 2 && i < s.size() && s[i] == ':' && s[0] >= 'A' && s[0] <= 'Z';
}

bool starts_trace(string_view s) {
  return contains(s, "Call Trace:") || s.substr(0, 11) == "Call trace:" || s.substr(0, 10) == "Backtrace:" ||
         s.substr(0, 16) == "stack backtrace:" || s.substr(0, 10) == "backtrace:" || s.substr(0, 11) == "backtrace (";
}

// Lines that still belong to a report after its call trace closed.
bool is_report_furniture(string_view text) {
  string_view s = trim_left(text);
  TraceFrame frame;
  if (starts_with_register_name(s) || parse_trace_frame(s, frame)) return true;
  for (string_view p : {"Code: ", "Modules linked in", "Kernel Offset:", "---[", "<", "Call Trace:", "CPU: ",
                        "Hardware name:", "note: ", "Fixing recursive fault", "Rebooting in", "RIP: "})
    if (s.substr(0, p.size()) == p) return true;
  return false;
}

// Whether the lines after a generic header look like a kernel report: a stack, registers or
// the end-of-trace line within a few lines. A driver's "WARNING: ..." message has none.
// Lines already looked at without finding a report are not looked at again, so a log of a
// million driver "WARNING: " lines costs one pass, not forty.
class EvidenceWindow {
 public:
  static constexpr std::size_t kLines = 40;
  bool report_follows(string_view log, std::size_t offset, std::size_t number, bool eof_counts);

 private:
  std::size_t clean_to_offset_ = 0, clean_to_number_ = 0;  // no evidence on lines up to here
};

bool EvidenceWindow::report_follows(string_view log, std::size_t offset, std::size_t number, bool eof_counts) {
  const std::size_t last = number + kLines;
  if (clean_to_number_ > number) {
    offset = clean_to_offset_;
    number = clean_to_number_;
  }
  LineCursor cursor(log, offset, number);
  string_view raw;
  while (cursor.number() < last) {
    if (!cursor.next(raw)) return eof_counts;
    clean_to_offset_ = cursor.next_offset();
    clean_to_number_ = cursor.number();
    ConsoleLine line = split_console_prefix(raw);
    if (written_by_user(line)) continue;
    string_view s = trim_left(line.text);
    TraceFrame frame;
    if (starts_trace(s) || !parse_pc_line(s).empty() || s.substr(0, 4) == "---[" ||
        s.substr(0, 17) == "Modules linked in" || (s.substr(0, 5) == "CPU: " && contains(s, "PID: ")) ||
        (parse_trace_frame(s, frame) && contains(s, "+0x")))
      return true;
  }
  return false;
}

struct ReportStart {
  const CrashSignature* sig = nullptr;
  std::size_t offset = 0, number = 0;  // the first line of the report (maybe "[ cut here ]")
  std::size_t header_number = 0;       // the line that matched the signature
  std::string caller;
};

bool is_sanitizer(CrashKind kind) {
  return kind == CrashKind::Kasan || kind == CrashKind::Ubsan || kind == CrashKind::Kmsan ||
         kind == CrashKind::Kfence || kind == CrashKind::Kcsan;
}

// The lines of one report: same printk caller as the header, up to the trace's end, the next
// report, or a panic line that closes it.
std::vector<ReportLine> collect_report(string_view log, const ReportStart& start) {
  std::vector<ReportLine> lines;
  LineCursor cursor(log, start.offset, start.number - 1);
  bool saw_trace = false, trace_closed = false;
  // Sanitizer reports go on after the trace (allocation and free stacks, a memory dump);
  // lockdep and kmemleak reports print their stacks under their own headings.
  const CrashKind kind = start.sig->kind;
  const bool long_form = is_sanitizer(kind) || kind == CrashKind::Lockdep || kind == CrashKind::MemoryLeak;
  string_view raw;
  for (std::size_t scanned = 0; scanned < kMaxScanLines && lines.size() < kMaxReportLines && cursor.next(raw);
       ++scanned) {
    ConsoleLine line = split_console_prefix(raw);
    if (is_comment(line.text) || line.caller != start.caller || written_by_user(line)) continue;
    ReportLine rl{raw, line.text, cursor.number()};
    if (cursor.number() <= start.header_number) {
      lines.push_back(rl);
      continue;
    }
    string_view s = trim_left(line.text);
    if (s.substr(0, 14) == "---[ end trace" || s.substr(0, 21) == "---[ end Kernel panic") {
      lines.push_back(rl);
      break;
    }
    if (const CrashSignature* sig = match_signature(line)) {
      if (sig->kind == CrashKind::Panic && kind != CrashKind::Panic) {
        lines.push_back(rl);  // why the machine stopped; its own stack repeats ours...
        if (saw_trace) break;
        continue;  // ...or is the only one (panic_on_warn panics before __warn prints a trace)
      }
      if (saw_trace && !(kind == CrashKind::MemoryLeak && sig->kind == CrashKind::MemoryLeak)) break;
      lines.push_back(rl);  // "Oops:", "invalid opcode:" after the header: same report
      continue;
    }
    if (is_sanitizer(kind) && s.substr(0, 10) == "==========") {  // sanitizers close with a rule
      lines.push_back(rl);
      break;
    }
    if (trace_closed && !long_form && !is_report_furniture(line.text)) break;
    lines.push_back(rl);
    if (starts_trace(s)) saw_trace = true;
    if (saw_trace && s.substr(0, 7) == "</TASK>") trace_closed = true;
  }
  return lines;
}

// Candidate functions in blame order for one report. Questionable frames (" ? f") never count.
struct Candidates {
  std::vector<string_view> frames;
  bool saw_trace = false;  // a call-trace heading was there (the PC alone is not the stack)
};

void add_lock_site(const std::vector<ReportLine>& lines, Candidates& out, std::initializer_list<string_view> triggers);

// The lock a lockdep report is about: the "at: f+0x/0x" after "is trying to acquire lock:",
// "takes:", "is trying to release lock" (the function on that line or the next few).
void add_lock_sites(const std::vector<ReportLine>& lines, Candidates& out) {
  const std::size_t before = out.frames.size();
  add_lock_site(lines, out, {"is trying to acquire", " takes:", "is trying to release"});
  if (out.frames.size() != before) return;
  // Reports about locks still held name them as " #0: (&lock){...}, at: f+0x1/0x2".
  for (const auto& line : lines) {
    string_view s = trim_left(line.text);
    if (s.substr(0, 3) != "#0:") continue;
    auto at = s.find("at: ");
    TraceFrame frame;
    if (at != string_view::npos && parse_trace_frame(s.substr(at + 4), frame)) out.frames.push_back(frame.function);
    return;
  }
}

void add_lock_site(const std::vector<ReportLine>& lines, Candidates& out, std::initializer_list<string_view> triggers) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    string_view s = lines[i].text;
    if (std::none_of(triggers.begin(), triggers.end(), [&](string_view t) { return contains(s, t); })) continue;
    for (std::size_t j = i; j < lines.size() && j <= i + 3; ++j) {
      string_view t = lines[j].text;
      auto at = t.find("at: ");
      string_view after = at == string_view::npos ? (j > i ? trim_left(t) : string_view{}) : t.substr(at + 4);
      TraceFrame frame;
      if (!after.empty() && parse_trace_frame(after, frame) && !frame.questionable) {
        out.frames.push_back(frame.function);
        if (at != string_view::npos) {
          // A symbolizer may have spelt an inlined lock helper first; the caller follows.
          if (j + 1 < lines.size() && contains(lines[j].text, "[inline]")) {
            string_view next = lines[j + 1].text;
            auto at2 = next.find("at: ");
            if (parse_trace_frame(at2 == string_view::npos ? next : next.substr(at2 + 4), frame))
              out.frames.push_back(frame.function);
          }
          return;
        }
      }
    }
    return;
  }
}

Candidates blame_candidates(const std::vector<ReportLine>& lines, const CrashSignature& sig,
                            string_view header_function) {
  Candidates out;
  if (sig.frames == FrameRule::None) return out;
  if (!header_function.empty()) out.frames.push_back(header_function);
  // Reports that name the culprit in words: "caller is f+0x1/0x2" (smp_processor_id() and
  // this_cpu checks), "last function: f" (a work item that leaked a lock or preemption count).
  for (const auto& line : lines) {
    string_view s = trim_left(line.text);
    for (string_view words : {"caller is ", "last function: "}) {
      if (s.substr(0, words.size()) != words) continue;
      if (string_view f = parse_symbol(s.substr(words.size()), true); !f.empty()) out.frames.push_back(f);
    }
  }
  if (sig.frames == FrameRule::Lock) add_lock_sites(lines, out);
  const bool stall = sig.frames == FrameRule::Stall;
  const bool leak = sig.frames == FrameRule::Leak;
  // Some sanitizers (KMSAN, KCSAN) print the stack right under their header, without a heading.
  bool pc_taken = false, in_trace = is_sanitizer(sig.kind), skipping = false;
  std::size_t stall_start = 0;  // for stalls: frames before the interrupted PC are the timer's
  for (const auto& line : lines) {
    string_view s = trim_left(line.text);
    if (!pc_taken && !leak) {
      if (string_view pc = parse_pc_line(s); !pc.empty()) {
        if (stall) stall_start = out.frames.size();
        out.frames.push_back(pc);
        pc_taken = true;
        if (stall) in_trace = true;  // the interrupted context's frames follow the registers
        continue;
      }
    }
    if (starts_trace(s)) {
      in_trace = true;
      out.saw_trace = true;
      continue;
    }
    if (s.substr(0, 16) == "Allocated by task" || s.substr(0, 12) == "Freed by task" || s.substr(0, 4) == "---[" ||
        s.substr(0, 25) == "The buggy address belongs" || s.substr(0, 16) == "Uninit was store" ||
        s.substr(0, 17) == "Uninit was create" || s.substr(0, 21) == "Last potentially rel" ||
        (leak && out.frames.size() > 0 && s.empty()))
      break;  // sanitizers' allocation/free stacks are history, not the crash
    if (s == "</TASK>" && in_trace && !stall) break;
    if (stall && (s.substr(0, 14) == "NMI backtrace " || s.substr(0, 8) == "Sending ") && pc_taken) break;
    if (stall && contains(s, "grace-period kthread stack dump")) {  // the RCU thread, not the stalled CPU
      skipping = true;
      continue;
    }
    if (skipping && (s.substr(0, 14) == "NMI backtrace " || s.substr(0, 8) == "Sending " || !parse_pc_line(s).empty()))
      skipping = false;
    if (skipping) continue;
    TraceFrame frame;
    if (!in_trace || !parse_trace_frame(line.text, frame) || frame.questionable) continue;
    if (starts_with_register_name(s)) continue;
    out.frames.push_back(frame.function);
  }
  // When the new lock is taken inside helpers all the way down, the code that already held the
  // other lock is the last name left.
  if (sig.frames == FrameRule::Lock) add_lock_site(lines, out, {"already holding lock", "already holding:"});
  if (stall && pc_taken && stall_start > 0 && stall_start <= out.frames.size()) {
    // The frames before the interrupted PC are the timer interrupt that noticed the stall.
    out.frames.erase(out.frames.begin(), out.frames.begin() + static_cast<std::ptrdiff_t>(stall_start));
  }
  return out;
}

// "rmdir" from a syscall wrapper's name ("__x64_sys_rmdir", "SyS_rmdir", "__do_sys_rmdir",
// "ksys_rmdir"), or empty.
std::string syscall_name(string_view f) {
  for (string_view p : {"__x64_sys_", "__ia32_sys_", "__arm64_sys_", "__riscv_sys_", "__se_sys_", "__do_sys_", "SyS_",
                        "SYSC_", "ksys_", "sys_"})
    if (f.substr(0, p.size()) == p && f.size() > p.size()) return std::string(f.substr(p.size()));
  return {};
}

bool is_multiplexing_syscall(string_view call) {
  for (string_view c : {"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
                        "pwritev2", "ioctl", "sendmsg", "sendmmsg", "sendto", "recvmsg", "recvmmsg", "recvfrom",
                        "setsockopt", "getsockopt", "splice", "sendfile", "sendfile64", "close", "exit_group", "bpf",
                        "mmap", "mmap_pgoff", "mmap2", "open", "openat", "openat2", "creat", "exit", "ftruncate",
                        "io_uring_enter", "fcntl", "poll", "ppoll", "select", "pselect6", "epoll_wait"})
    if (call == c) return true;
  return false;
}

// The first candidate that is code under test; failing that, the syscall or LKDTM entry that
// led there; failing that, a lock/allocator/string helper (never for hangs: every sleeper
// waits in one). Reporting frames never. A stall blames the frame just inside the innermost
// dispatcher (the protocol handler a softirq loop called, the timer callback, the syscall).
std::string pick_guilty_frame(const Candidates& candidates, const CrashSignature& sig) {
  std::vector<string_view> names;
  names.reserve(candidates.frames.size());
  for (auto c : candidates.frames) names.push_back(base_function(c));
  if (sig.frames == FrameRule::Stall) {
    // Without a PC line the trace starts in the timer interrupt that noticed the stall.
    std::size_t first = 0;
    while (first < names.size() && frame_role(names[first]) == FrameRole::Reporting) ++first;
    names.erase(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(first));
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (!is_dispatch_frame(names[i])) continue;
      // A syscall that does one thing names the work ("sys_rmdir"); read, write, ioctl and the
      // socket calls only route it to the file or protocol operation inside.
      if (std::string call = syscall_name(names[i]); !call.empty() && !is_multiplexing_syscall(call))
        return printable("sys_" + call, kMaxTitleBytes);
      for (std::size_t j = i; j-- > 0;)
        if (frame_role(names[j]) == FrameRole::Code) return printable(names[j], kMaxTitleBytes);
      break;
    }
  }
  const bool waiting = sig.frames == FrameRule::Waiter || sig.frames == FrameRule::Stall;
  auto passed_over = [&](string_view f) {
    return (sig.frames == FrameRule::Waiter && is_sleep_frame(f)) ||
           (sig.frames == FrameRule::Leak && is_allocation_frame(f));
  };
  for (FrameRole tier : {FrameRole::Code, FrameRole::Entry, FrameRole::Helper}) {
    if (tier == FrameRole::Helper && waiting) break;
    for (auto f : names)
      if (!f.empty() && frame_role(f) == tier && !passed_over(f)) return printable(f, kMaxTitleBytes);
  }
  return {};
}

// "... at drivers/x.c:85 lkdtm_WARNING+0x8/0xb [mod]": the last "name+0x/0x" token.
string_view last_symbol(string_view s) {
  string_view found;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && s[i - 1] != ' ') continue;
    if (string_view sym = parse_symbol(s.substr(i)); !sym.empty()) found = sym;
  }
  return found;
}

// The function a WARNING header names: 4.x-6.x "at file.c:85 func+0x8/0xb", 6.x "file.c:85 at
// func+0x8/0xb, CPU#0", 3.x "at file.c:85 func()".
string_view warning_function(string_view after_marker) {
  if (string_view f = last_symbol(after_marker); !f.empty()) return f;
  auto paren = after_marker.rfind("()");
  if (paren == string_view::npos) return {};
  std::size_t begin = paren;
  while (begin > 0 && is_symbol_char(after_marker[begin - 1])) --begin;
  return after_marker.substr(begin, paren - begin);
}

// "path/file.c" from "kernel BUG at path/file.c:78!" or a WARNING header.
string_view source_file(string_view header) {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (i > 0 && header[i - 1] != ' ') continue;
    if (is_source_position(header.substr(i))) {
      string_view rest = header.substr(i);
      return rest.substr(0, rest.find(':'));
    }
  }
  return {};
}

bool ends_with(string_view s, string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// WARN()s whose file says what kind of bug they report.
string_view warning_category(string_view file) {
  if (ends_with(file, "lib/refcount.c")) return "WARNING: refcount bug";
  if (ends_with(file, "lib/debugobjects.c")) return "WARNING: ODEBUG bug";
  if (contains(file, "kernel/locking/")) return "WARNING: locking bug";
  if (ends_with(file, "lib/list_debug.c")) return "WARNING: corrupted list";
  if (ends_with(file, "mm/usercopy.c")) return "WARNING: bad usercopy";
  if (ends_with(file, "lib/kobject.c")) return "WARNING: kobject bug";
  return "WARNING";
}

// The word the kernel put in front of a lockdep header ("BUG", "WARNING", "INFO").
std::string lockdep_word(string_view header, string_view marker) {
  auto at = header.find(marker);
  string_view before = at == string_view::npos ? string_view{} : header.substr(0, at);
  for (string_view word : {"BUG", "INFO", "WARNING"})
    if (contains(before, std::string(word) + ":")) return std::string(word);
  return "WARNING";
}

// A family title shared by reports of one bug seen through different detectors or versions.
string_view family_of(CrashKind kind) {
  switch (kind) {
    case CrashKind::PageFault: case CrashKind::NullDeref: case CrashKind::GeneralProtection:
    case CrashKind::Kasan: case CrashKind::Kfence: return "bad memory access";
    case CrashKind::RcuStall: case CrashKind::SoftLockup: case CrashKind::HardLockup: return "stall";
    case CrashKind::HungTask: return "hang";
    default: return {};
  }
}

// Reports the kernel always prints a call trace with (oopses, WARN, KASAN, lockdep's deadlock
// reports, hung tasks, stalls); a sanitizer's stack right under its header has no heading.
bool always_has_trace(const CrashSignature& sig) {
  switch (sig.kind) {
    case CrashKind::PageFault: case CrashKind::NullDeref: case CrashKind::GeneralProtection:
    case CrashKind::DivideError: case CrashKind::Oops: case CrashKind::Kasan: case CrashKind::HungTask:
    case CrashKind::SoftLockup: case CrashKind::RcuStall: return true;
    case CrashKind::Warning: return sig.rule == TitleRule::Warning;
    case CrashKind::Bug: return sig.rule == TitleRule::KernelBug;
    case CrashKind::Lockdep: return sig.rule == TitleRule::Fixed;  // possible deadlock, inconsistent lock state
    default: return false;
  }
}

CrashReport build_report(const ReportStart& start, std::vector<ReportLine> lines) {
  CrashReport report;
  const CrashSignature& sig = *start.sig;
  report.kind = sig.kind;
  string_view header;
  for (const auto& l : lines)
    if (l.number == start.header_number) header = behind_oops(match_in(l.text) ? l.text : after_glued_timestamp(l.text));
  string_view from_marker = header.substr(std::min(header.size(), marker_position(sig, header)));
  string_view after_marker = from_marker.substr(std::min(from_marker.size(), sig.marker.size()));

  string_view header_function;
  if (sig.rule == TitleRule::Warning) header_function = warning_function(after_marker);
  if (sig.marker == "INFO: Allocated in " || sig.marker == "INFO: Freed in ")  // "... in f+0x1/0x2 age=..."
    header_function = parse_symbol(after_marker, true);
  if (sig.rule == TitleRule::Panic) {  // "stack-protector: Kernel stack is corrupted in: f+0x1/0x2"
    auto in = after_marker.find(" in: ");
    if (in != string_view::npos) header_function = parse_symbol(after_marker.substr(in + 5), true);
  }
  if (sig.rule == TitleRule::Sanitizer && sig.kind != CrashKind::Ubsan && sig.kind != CrashKind::Kcsan) {
    auto in = after_marker.find(" in ");
    if (in != string_view::npos) header_function = parse_symbol(after_marker.substr(in + 4), true);
  }
  Candidates candidates = blame_candidates(lines, sig, header_function);
  report.guilty_frame = pick_guilty_frame(candidates, sig);
  // A report that should name a frame and has none is cut or garbled: say so, guess nothing.
  // One whose stack never came (cut off, or lost among other output) is damaged too, even when
  // its header or PC named the frame.
  const bool needs_frame = sig.frames != FrameRule::None && sig.kind != CrashKind::Kcsan &&
                           sig.kind != CrashKind::Panic;  // a panic may be called with no stack at all
  report.corrupted = needs_frame && (report.guilty_frame.empty() || (always_has_trace(sig) && !candidates.saw_trace));
  const std::string& frame = report.guilty_frame;

  std::string stem;
  switch (sig.rule) {
    case TitleRule::Fixed:
      stem = std::string(sig.title);
      break;
    case TitleRule::Worded:
      stem = lockdep_word(header, sig.marker) + ": " + std::string(sig.title);
      break;
    case TitleRule::Sanitizer: {
      auto in = after_marker.find(" in ");
      string_view type = after_marker.substr(0, in);
      if (sig.kind == CrashKind::Kasan) type = type.substr(0, type.find_first_of(" :"));
      stem = std::string(sig.title) + ": " + stable_message(type);
      if (sig.kind == CrashKind::Kasan) {
        for (const auto& l : lines) {
          string_view s = trim_left(l.text);
          if (s.substr(0, 5) == "Read " || s.substr(0, 6) == "Write ") {
            stem += s[0] == 'R' ? " Read" : " Write";
            break;
          }
        }
      }
      if (sig.kind == CrashKind::Kcsan && in != string_view::npos) {
        // "data-race in f / g": both sides of the race are the title
        std::string sides = stable_message(after_marker.substr(in + 4));
        report.title = printable(stem + " in " + sides, kMaxTitleBytes + 64);
        if (report.guilty_frame.empty()) report.guilty_frame = std::string(base_function(parse_symbol(after_marker.substr(in + 4), true)));
      }
      break;
    }
    case TitleRule::KernelBug: {
      string_view file = source_file(from_marker);
      stem = ends_with(file, "lib/list_debug.c") ? "BUG: corrupted list"
             : ends_with(file, "mm/usercopy.c")  ? "BUG: bad usercopy"
                                                 : "kernel BUG";
      break;
    }
    case TitleRule::Warning:
      stem = std::string(warning_category(source_file(after_marker)));
      break;
    case TitleRule::Panic: {
      std::string message = stable_message(after_marker);
      stem = "kernel panic: " + (message.empty() ? std::string("(no message)") : message);
      break;
    }
    case TitleRule::Generic: {
      string_view word = sig.marker.substr(0, sig.marker.size() - 1);  // "BUG:" / "WARNING:"
      if (sig.kind == CrashKind::SpinlockDebug) word = "BUG:";
      string_view rest = sig.kind == CrashKind::SpinlockDebug ? from_marker.substr(5) : after_marker;
      std::string message = stable_message(headline(rest));
      stem = message.empty() ? std::string(word) : std::string(word) + " " + message;
      break;
    }
    case TitleRule::Slub: {
      auto colon = from_marker.find("): ");
      string_view message = colon == string_view::npos ? string_view{} : from_marker.substr(colon + 3);
      std::string stable = stable_message(headline(message));
      stem = stable.empty() ? std::string("BUG: slab corruption") : "BUG: " + stable;
      break;
    }
  }
  // A panic's message is its identity ("kernel panic: sysrq triggered crash"); a frame joins it
  // only when the message names one or the stack is what the panic is about.
  const bool titled_frame =
      sig.rule != TitleRule::Panic || sig.frames == FrameRule::Stall || !header_function.empty();
  if (report.title.empty()) report.title = printable(titled_frame ? with_frame(stem, frame) : stem, kMaxTitleBytes + 64);
  if (!frame.empty()) {
    if (!sig.alt.empty()) report.alt_titles.push_back(with_frame(std::string(sig.alt), frame));
    if (sig.rule == TitleRule::Warning && stem != "WARNING") report.alt_titles.push_back("WARNING in " + frame);
    if (sig.kind == CrashKind::Lockdep && sig.title == "possible deadlock") report.alt_titles.push_back("deadlock in " + frame);
    if (string_view family = family_of(sig.kind); !family.empty())
      report.alt_titles.push_back(std::string(family) + " in " + frame);
  }

  for (const auto& l : lines) {
    if (!report.report.empty()) report.report += '\n';
    report.report.append(l.raw);
  }
  if (!lines.empty()) {
    report.first_line = lines.front().number;
    report.last_line = lines.back().number;
  }
  return report;
}

// ---- events --------------------------------------------------------------------------------

class EventLog {
 public:
  explicit EventLog(ConsoleScan& scan) : scan_(scan) {}

  void see(string_view text, std::size_t number) {
    if (auto at = text.find("ut of memory: Killed process"); at != string_view::npos && at > 0) {
      // "Out of memory: Killed process 27 (tail) total-vm:..." -> up to the task name.
      string_view s = text.substr(at - 1);
      if (at >= 15 && text.substr(at - 15, 14) == "Memory cgroup ") s = text.substr(at - 15);
      auto close = s.find(')');
      add(ConsoleEventKind::OomKill, close == string_view::npos ? s : s.substr(0, close + 1), number);
      return;
    }
    if (contains(text, "FAULT_INJECTION: forcing a failure")) {
      add(ConsoleEventKind::FaultInjection, "FAULT_INJECTION: forcing a failure", number);
      pending_fault_ = scan_.events.empty() ? nullptr : &scan_.events.back();
      return;
    }
    // The next line names the fault: "name failslab, interval 1, probability 100, ...".
    if (pending_fault_ && number <= pending_fault_->line + 3) {
      string_view s = trim_left(text);
      if (s.substr(0, 5) == "name ") {
        string_view name = s.substr(5, s.find(',') == string_view::npos ? 32 : s.find(',') - 5);
        pending_fault_->text += " (" + printable(name, 32) + ")";
        pending_fault_ = nullptr;
      }
    } else {
      pending_fault_ = nullptr;
    }
  }

 private:
  void add(ConsoleEventKind kind, string_view text, std::size_t number) {
    if (scan_.events.size() >= ConsoleScan::kMaxEvents) {
      ++scan_.events_dropped;
      pending_fault_ = nullptr;
      return;
    }
    scan_.events.push_back(ConsoleEvent{kind, printable(trim(text), kMaxEventBytes), number});
  }

  ConsoleScan& scan_;
  ConsoleEvent* pending_fault_ = nullptr;  // events never reallocates past kMaxEvents (reserved)
};

}  // namespace

const char* to_string(CrashKind kind) {
  switch (kind) {
    case CrashKind::Bug: return "bug";
    case CrashKind::PageFault: return "page_fault";
    case CrashKind::NullDeref: return "null_deref";
    case CrashKind::GeneralProtection: return "general_protection_fault";
    case CrashKind::DivideError: return "divide_error";
    case CrashKind::Oops: return "oops";
    case CrashKind::Panic: return "panic";
    case CrashKind::Warning: return "warning";
    case CrashKind::Kasan: return "kasan";
    case CrashKind::Kmsan: return "kmsan";
    case CrashKind::Kfence: return "kfence";
    case CrashKind::Kcsan: return "kcsan";
    case CrashKind::Ubsan: return "ubsan";
    case CrashKind::Lockdep: return "lockdep";
    case CrashKind::SpinlockDebug: return "spinlock";
    case CrashKind::MemoryLeak: return "memory_leak";
    case CrashKind::HungTask: return "hung_task";
    case CrashKind::RcuStall: return "rcu_stall";
    case CrashKind::SoftLockup: return "soft_lockup";
    case CrashKind::HardLockup: return "hard_lockup";
    case CrashKind::Vfs: return "vfs";
  }
  return "unknown";
}

const char* to_string(ConsoleEventKind kind) {
  switch (kind) {
    case ConsoleEventKind::OomKill: return "oom_kill";
    case ConsoleEventKind::FaultInjection: return "fault_injection";
  }
  return "unknown";
}

ConsoleLine split_console_prefix(string_view line) {
  ConsoleLine out;
  string_view s = line;
  if (s.size() >= 3 && s[0] == '<') {  // syslog prio from `dmesg -r` or console_msg_format=syslog: "<4>"
    std::size_t i = 1;
    int prio = 0;
    while (i < s.size() && i < 4 && is_digit(s[i])) prio = prio * 10 + (s[i++] - '0');
    if (i > 1 && i < s.size() && s[i] == '>') {
      out.prio = prio;
      s.remove_prefix(i + 1);
    }
  }
  s.remove_prefix(timestamp_length(s));
  string_view rest = s.substr(0, 1) == " " ? s.substr(1) : s;
  string_view id;
  if (std::size_t n = caller_length(rest, id); n != 0) {
    out.caller = id;
    s = rest.substr(n);
  }
  if (s.substr(0, 1) == " ") s.remove_prefix(1);
  out.text = s;
  return out;
}

bool is_machinery_frame(string_view function) { return frame_role(base_function(function)) != FrameRole::Code; }

ConsoleScan scan_console(string_view log) {
  ConsoleScan scan;
  scan.events.reserve(ConsoleScan::kMaxEvents);
  EventLog events(scan);
  ReportStart start;
  // The latest "[ cut here ]" line: WARN and BUG print it just before their header.
  std::size_t cut_offset = 0, cut_number = 0;
  std::string cut_caller;

  EvidenceWindow evidence;
  LineCursor cursor(log);
  string_view raw;
  while (cursor.next(raw)) {
    ConsoleLine line = split_console_prefix(raw);
    if (is_comment(line.text) || written_by_user(line)) continue;
    events.see(line.text, cursor.number());
    if (start.sig) continue;
    if (contains(line.text, "[ cut here ]")) {
      cut_offset = cursor.offset();
      cut_number = cursor.number();
      cut_caller.assign(line.caller);
      continue;
    }
    if (const CrashSignature* sig = match_signature(line)) {
      if (sig->needs_evidence &&
          !evidence.report_follows(log, cursor.next_offset(), cursor.number(),
                                   sig->rule == TitleRule::Generic && sig->kind == CrashKind::Bug))
        continue;
      start.sig = sig;
      start.header_number = cursor.number();
      start.caller.assign(line.caller);
      bool cut_belongs = cut_number != 0 && cursor.number() - cut_number <= kCutHereWindow && cut_caller == start.caller;
      start.offset = cut_belongs ? cut_offset : cursor.offset();
      start.number = cut_belongs ? cut_number : cursor.number();
    }
  }
  if (start.sig) scan.crash = build_report(start, collect_report(log, start));
  return scan;
}

std::vector<std::string> blocked_tasks(std::string_view log) {
  // sched_show_task() prints "task:%-15.15s state:%c stack:... pid:%-5d ppid:..." per task.
  std::size_t start = log.rfind("Show Blocked State");
  if (start == std::string_view::npos) return {};
  std::vector<std::string> out;
  std::size_t pos = log.find('\n', start);
  while (pos != std::string_view::npos && pos + 1 < log.size()) {
    std::size_t end = log.find('\n', pos + 1);
    std::string_view line = log.substr(pos + 1, end == std::string_view::npos ? std::string_view::npos : end - pos - 1);
    pos = end;
    std::string_view text = split_console_prefix(line).text;
    if (text.rfind("sysrq: ", 0) == 0 && text.find("Show Blocked State") == std::string_view::npos) break;
    if (text.rfind("task:", 0) != 0) continue;
    std::size_t st = text.find(" state:");
    if (st == std::string_view::npos || st + 7 >= text.size() || text[st + 7] != 'D') continue;
    std::string_view comm = text.substr(5, st - 5);
    while (!comm.empty() && comm.back() == ' ') comm.remove_suffix(1);
    std::string entry(comm);
    if (std::size_t p = text.find(" pid:"); p != std::string_view::npos) {
      std::size_t b = p + 5, e = b;
      while (e < text.size() && (text[e] == ' ' || isdigit(static_cast<unsigned char>(text[e])))) ++e;
      std::string_view num = text.substr(b, e - b);
      while (!num.empty() && num.front() == ' ') num.remove_prefix(1);
      while (!num.empty() && num.back() == ' ') num.remove_suffix(1);
      if (!num.empty()) entry += " (pid " + std::string(num) + ")";
    }
    if (std::find(out.begin(), out.end(), entry) == out.end()) out.push_back(entry);
  }
  return out;
}

}  // namespace fb
