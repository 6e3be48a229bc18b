// Crash detection over a serial-console log. The idea follows syzkaller's pkg/report/linux.go
// (a table of report headers, the first report wins, titles built from a guilty frame with
// machinery frames skipped), written without regular expressions: every check is a bounded
// substring test on a line capped at kMaxLineBytes, so arbitrary bytes cannot make it slow.
#include "orchestrator/core/crash_report.h"

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
// allow_bare is set (KASAN headers sometimes print just the name).
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
  if (hex == 0 || (j < rest.size() && rest[j] != ' ')) return {};
  return name;
}

// Compiler suffixes (".isra.0", ".constprop.0", ".cold") change between builds; titles must not.
string_view base_function(string_view name) {
  auto dot = name.find('.');
  return dot == string_view::npos ? name : name.substr(0, dot);
}

struct TraceFrame {
  string_view function;
  bool questionable = false;  // " ? name": a stale return address the unwinder was unsure of
};

// A call-trace line: "  name+0x1/0x2", " ? name+0x1/0x2", "  [<ffffffff81>] name+0x1/0x2 [mod]".
bool parse_trace_frame(string_view text, TraceFrame& frame) {
  string_view s = trim_left(text);
  frame.questionable = false;
  if (s.substr(0, 2) == "? ") {
    frame.questionable = true;
    s.remove_prefix(2);
  }
  if (s.substr(0, 2) == "[<") {
    auto close = s.find("] ");
    if (close == string_view::npos || close > 24) return false;
    s.remove_prefix(close + 2);
  }
  frame.function = parse_symbol(s);
  return !frame.function.empty();
}

// "RIP: 0010:name+0x1/0x2": the kernel-mode instruction pointer's function, or empty.
string_view parse_kernel_rip(string_view text) {
  string_view s = trim_left(text);
  if (s.substr(0, 10) != "RIP: 0010:") return {};
  return parse_symbol(s.substr(10));
}

bool matches_any(string_view name, std::initializer_list<string_view> exact, std::initializer_list<string_view> prefixes) {
  for (auto e : exact)
    if (name == e) return true;
  for (auto p : prefixes)
    if (name.substr(0, p.size()) == p) return true;
  return false;
}

// Frames that only report, trap or inject: never the place to blame.
bool is_reporting_frame(string_view f) {
  return matches_any(
      f,
      {"report_bug", "handle_bug", "fixup_bug", "do_trap", "do_error_trap", "die", "die_addr", "show_stack",
       "show_regs", "__show_regs", "show_trace_log_lvl", "show_regs_print_info", "page_fault_oops",
       "kernelmode_fixup_or_oops", "__bad_area_nosemaphore", "bad_area_nosemaphore", "bad_area",
       "do_user_addr_fault", "do_kern_addr_fault", "spurious_kernel_fault", "handle_page_fault",
       "handle_stack_overflow", "do_int3", "do_int3_user", "math_error", "print_report",
       "print_address_description", "check_memory_region", "refcount_warn_saturate", "fail_dump",
       "update_process_times", "scheduler_tick", "irq_exit_rcu", "__irq_exit_rcu", "rcu_sched_clock_irq",
       "rcu_pending", "watchdog", "check_hung_uninterruptible_tasks", "check_hung_task", "vpanic",
       // SLUB debug's own reporting
       "slab_err", "slab_bug", "slab_fix", "slab_pad_check", "object_err", "print_trailer", "print_tracking",
       "print_page_info", "print_section", "check_object", "check_bytes_and_report", "free_debug_processing",
       "alloc_debug_processing", "on_freelist"},
      {"dump_stack", "__warn", "warn_slowpath", "exc_", "asm_exc_", "__die", "oops_", "panic", "nmi_",
       "check_panic_on_warn", "should_fail", "__should_fail", "kasan_", "__kasan_", "__asan_", "__ubsan_",
       "ubsan_", "sysvec_", "__sysvec_", "asm_sysvec_", "hrtimer_", "__hrtimer_", "tick_", "rcu_dump_",
       "print_cpu_stall", "print_other_cpu_stall", "check_cpu_stall", "arch_trigger_cpumask",
       "watchdog_", "__list_add_valid", "__list_del_entry_valid"});
}

// Frames every syscall or LKDTM trigger passes through: blamed only when nothing else is left.
bool is_entry_frame(string_view f) {
  return matches_any(f,
                     {"lkdtm_do_action", "direct_entry", "full_proxy_write", "full_proxy_read", "vfs_write",
                      "vfs_read", "ksys_write", "ksys_read", "__x64_sys_write", "__x64_sys_read", "do_syscall_64",
                      "do_syscall_x64", "entry_SYSCALL_64", "entry_SYSCALL_64_after_hwframe", "ret_from_fork",
                      "kthread", "proc_reg_write", "proc_reg_read", "new_sync_write", "new_sync_read"},
                     {});
}

// Allocator, lock and string helpers: they carry a bug rather than cause it, so even the
// syscall entry is a better name; blamed only when nothing else is left at all.
bool is_internal_frame(string_view f) {
  return matches_any(
      f,
      {"kfree", "kvfree", "kfree_sensitive", "memcpy", "memmove", "memset", "memcmp", "__memcpy", "__memset",
       "__memmove", "memcpy_erms", "memset_erms", "memcpy_orig", "memset_orig", "strlen", "strnlen", "strcpy",
       "strncpy", "strscpy", "strcmp", "strncmp", "strchr", "strstr", "strndup_user", "memdup_user",
       "_copy_from_user", "_copy_to_user", "copy_user_generic_string", "copy_user_generic_unrolled",
       "copy_user_enhanced_fast_string", "free_to_partial_list", "kmalloc_trace"},
      {"kmem_cache_", "__kmem_cache_", "kmalloc", "__kmalloc", "slab_", "__slab_", "___slab_", "_raw_spin_",
       "_raw_read_", "_raw_write_", "queued_spin_", "queued_read_", "queued_write_", "native_queued_spin_",
       "__pv_queued_spin_", "do_raw_spin_"});
}

// ---- signatures ----------------------------------------------------------------------------

// How a report's title is made from its header line and guilty frame.
enum class TitleRule {
  Fixed,      // signature title + " in <frame>"
  Kasan,      // "KASAN: <bug type> <Read|Write> in <frame>"
  Ubsan,      // "UBSAN: <check> in <frame>"
  KernelBug,  // "kernel BUG in <frame>" (or the list/usercopy special cases)
  Warning,    // "WARNING in <frame>" from "WARNING: CPU: n PID: n at file:line func"
  Panic,      // "kernel panic: <message>"
  Generic,    // "BUG: <message> in <frame>" / "WARNING: <message> in <frame>"
  Slub,       // SLUB debug: "BUG kmalloc-64 (Not tainted): Object already free" -> "BUG: Object already free in <frame>"
};

struct CrashSignature {
  string_view marker;     // text that opens a report
  CrashKind kind;
  bool line_start;        // the marker must open the message (generic headers); else anywhere
  TitleRule rule;
  string_view title = {};         // Fixed: the title before " in <frame>"
  string_view also_needs = {};    // a second text the line must contain
};

// First match wins, so specific headers come before the generic "BUG: " / "WARNING: ".
constexpr std::array kSignatures = {
    CrashSignature{"BUG: KASAN: ", CrashKind::Kasan, false, TitleRule::Kasan},
    CrashSignature{"UBSAN: ", CrashKind::Ubsan, false, TitleRule::Ubsan},
    CrashSignature{"BUG: unable to handle page fault", CrashKind::PageFault, false, TitleRule::Fixed,
                   "BUG: unable to handle page fault"},
    CrashSignature{"BUG: unable to handle kernel paging request", CrashKind::PageFault, false, TitleRule::Fixed,
                   "BUG: unable to handle page fault"},
    CrashSignature{"BUG: kernel NULL pointer dereference", CrashKind::NullDeref, false, TitleRule::Fixed,
                   "BUG: kernel NULL pointer dereference"},
    CrashSignature{"BUG: unable to handle kernel NULL pointer dereference", CrashKind::NullDeref, false,
                   TitleRule::Fixed, "BUG: kernel NULL pointer dereference"},
    CrashSignature{"BUG: soft lockup", CrashKind::SoftLockup, false, TitleRule::Fixed, "BUG: soft lockup"},
    CrashSignature{"Watchdog detected hard LOCKUP", CrashKind::HardLockup, false, TitleRule::Fixed, "hard lockup"},
    CrashSignature{"self-detected stall on CPU", CrashKind::RcuStall, false, TitleRule::Fixed,
                   "INFO: rcu detected stall", "rcu"},
    CrashSignature{"detected stalls on CPUs/tasks", CrashKind::RcuStall, false, TitleRule::Fixed,
                   "INFO: rcu detected stall", "rcu"},
    CrashSignature{"detected expedited stalls on CPUs/tasks", CrashKind::RcuStall, false, TitleRule::Fixed,
                   "INFO: rcu detected stall", "rcu"},
    CrashSignature{"INFO: task ", CrashKind::HungTask, false, TitleRule::Fixed, "INFO: task hung",
                   " blocked for more than "},
    CrashSignature{"general protection fault", CrashKind::GeneralProtection, false, TitleRule::Fixed,
                   "general protection fault"},
    CrashSignature{"kernel BUG at ", CrashKind::Bug, false, TitleRule::KernelBug},
    CrashSignature{"Kernel panic - not syncing: ", CrashKind::Panic, false, TitleRule::Panic},
    CrashSignature{"PANIC: double fault", CrashKind::Oops, false, TitleRule::Fixed, "PANIC: double fault"},
    CrashSignature{"WARNING: CPU: ", CrashKind::Warning, false, TitleRule::Warning},
    CrashSignature{"WARNING: ", CrashKind::Warning, true, TitleRule::Generic},
    CrashSignature{"BUG: ", CrashKind::Bug, true, TitleRule::Generic},
    CrashSignature{"BUG ", CrashKind::Bug, true, TitleRule::Slub, {}, "ainted): "},
    CrashSignature{"stack segment: ", CrashKind::Oops, true, TitleRule::Fixed, "stack segment fault"},
    CrashSignature{"divide error: ", CrashKind::Oops, true, TitleRule::Fixed, "divide error"},
    CrashSignature{"invalid opcode: ", CrashKind::Oops, true, TitleRule::Fixed, "invalid opcode"},
    CrashSignature{"Oops: ", CrashKind::Oops, true, TitleRule::Fixed, "Oops"},
};

// Where the signature's marker sits in text, or npos. A marker found inside a longer word
// ("xBUG: ") does not count.
std::size_t marker_position(const CrashSignature& sig, string_view text) {
  if (sig.line_start) return text.substr(0, sig.marker.size()) == sig.marker ? 0 : string_view::npos;
  for (std::size_t from = 0;;) {
    std::size_t at = text.find(sig.marker, from);
    if (at == string_view::npos) return at;
    if (at == 0 || !is_word(text[at - 1])) return at;
    from = at + 1;
  }
}

const CrashSignature* match_signature(string_view text) {
  // Userspace faults reported by the kernel ("traps: sh[26] general protection fault ip:...")
  // are about a process, not the kernel.
  if (contains(text, "traps: ") || contains(text, " segfault at ")) return nullptr;
  for (const auto& sig : kSignatures) {
    std::size_t at = marker_position(sig, text);
    if (at == string_view::npos) continue;
    if (!sig.also_needs.empty() && !contains(text, sig.also_needs)) continue;
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
  if (tok.size() >= 8 && std::all_of(tok.begin(), tok.end(), is_hex)) return true;
  for (std::size_t i = 0; i + 1 < tok.size(); ++i)  // "CPU#0", "exitcode=0x9", "pid:26"
    if ((tok[i] == '#' || tok[i] == '=' || tok[i] == ':') && is_digit(tok[i + 1])) return true;
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
  for (string_view sep : {": ", " - ", " at ", " in ", ", ", "! "})
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

struct ReportStart {
  const CrashSignature* sig = nullptr;
  std::size_t offset = 0, number = 0;  // the first line of the report (maybe "[ cut here ]")
  std::size_t header_number = 0;       // the line that matched the signature
  std::string caller;
};

// The lines of one report: same printk caller as the header, up to the trace's end, the next
// report, or a panic line that closes it.
std::vector<ReportLine> collect_report(string_view log, const ReportStart& start) {
  std::vector<ReportLine> lines;
  LineCursor cursor(log, start.offset, start.number - 1);
  bool saw_trace = false, trace_closed = false;
  // Sanitizer reports go on after the trace (allocation and free stacks, a memory dump).
  const bool sanitizer = start.sig->kind == CrashKind::Kasan || start.sig->kind == CrashKind::Ubsan;
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
    if (const CrashSignature* sig = match_signature(line.text)) {
      if (sig->kind == CrashKind::Panic && start.sig->kind != CrashKind::Panic) {
        lines.push_back(rl);  // why the machine stopped; its own stack repeats ours
        break;
      }
      if (saw_trace) break;  // a second report
      lines.push_back(rl);   // "Oops:", "invalid opcode:" after the header: same report
      continue;
    }
    if (sanitizer && s.substr(0, 10) == "==========") {  // KASAN and UBSAN close with a rule
      lines.push_back(rl);
      break;
    }
    if (trace_closed && !sanitizer && !is_report_furniture(line.text)) break;
    lines.push_back(rl);
    if (s.substr(0, 11) == "Call Trace:" || s.substr(0, 11) == "Call trace:") saw_trace = true;
    if (saw_trace && s.substr(0, 7) == "</TASK>") trace_closed = true;
  }
  return lines;
}

bool is_stall(CrashKind kind) {
  return kind == CrashKind::SoftLockup || kind == CrashKind::HardLockup || kind == CrashKind::RcuStall;
}

// A hung task sleeps in the scheduler or a lock; the frames above that say where it waited.
bool is_wait_frame(string_view f) {
  for (string_view part : {"sched", "_lock", "_slowlock", "down", "rwsem", "completion", "wait", "synchronize",
                           "context_switch", "__switch_to", "msleep"})
    if (contains(f, part)) return true;
  return false;
}

// Candidate functions in blame order: the header's own function (WARNING, KASAN), the first
// kernel RIP, then the call trace. Questionable frames are dropped; stalls ignore the
// interrupt that caught them.
std::vector<string_view> blame_candidates(const std::vector<ReportLine>& lines, CrashKind kind,
                                          string_view header_function) {
  std::vector<string_view> out;
  if (!header_function.empty()) out.push_back(header_function);
  bool rip_taken = false, in_trace = false, in_irq = false;
  for (const auto& line : lines) {
    string_view s = trim_left(line.text);
    if (!rip_taken) {
      if (string_view rip = parse_kernel_rip(s); !rip.empty()) {
        if (!(is_stall(kind) && in_irq)) {
          out.push_back(rip);
          rip_taken = true;
        }
        continue;
      }
    }
    if (s.substr(0, 11) == "Call Trace:" || s.substr(0, 11) == "Call trace:" || s.substr(0, 10) == "Backtrace:") {
      in_trace = true;
      continue;
    }
    if (s.substr(0, 16) == "Allocated by task" || s.substr(0, 12) == "Freed by task" || s.substr(0, 4) == "---[")
      break;  // KASAN's allocation/free stacks are history, not the crash
    if (s == "<IRQ>" || s == "<NMI>" || s == "<SOFTIRQ>") in_irq = true;
    if (s == "</IRQ>" || s == "</NMI>" || s == "</SOFTIRQ>") in_irq = false;
    if (s == "</TASK>" && in_trace) break;
    TraceFrame frame;
    if (!in_trace || !parse_trace_frame(line.text, frame) || frame.questionable) continue;
    if (is_stall(kind) && in_irq) continue;
    out.push_back(frame.function);
  }
  return out;
}

// The first candidate that is code under test; failing that, the syscall or LKDTM entry that
// led there; failing that, the allocator or lock helper. Reporting frames never.
std::string pick_guilty_frame(const std::vector<string_view>& candidates, CrashKind kind) {
  auto usable = [&](string_view f) {
    return !f.empty() && !is_reporting_frame(f) && !(kind == CrashKind::HungTask && is_wait_frame(f));
  };
  for (int tier = 0; tier < 3; ++tier) {
    for (auto c : candidates) {
      string_view f = base_function(c);
      if (!usable(f)) continue;
      bool entry = is_entry_frame(f), internal = is_internal_frame(f);
      if ((tier == 0 && !entry && !internal) || (tier == 1 && !internal) || tier == 2)
        return printable(f, kMaxTitleBytes);
    }
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

// "path/file.c" from "kernel BUG at path/file.c:78!" or "WARNING: CPU: 0 PID: 1 at path/file.c:85 f".
string_view source_file_after(string_view header, string_view anchor) {
  auto at = header.find(anchor);
  if (at == string_view::npos) return {};
  string_view rest = header.substr(at + anchor.size());
  return rest.substr(0, rest.find_first_of(": !"));
}

bool ends_with(string_view s, string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

CrashReport build_report(const ReportStart& start, std::vector<ReportLine> lines) {
  CrashReport report;
  report.kind = start.sig->kind;
  string_view header;
  for (const auto& l : lines)
    if (l.number == start.header_number) header = l.text;
  string_view from_marker = header.substr(std::min(header.size(), marker_position(*start.sig, header)));
  string_view after_marker = from_marker.substr(std::min(from_marker.size(), start.sig->marker.size()));

  string_view header_function;
  if (start.sig->rule == TitleRule::Warning) header_function = last_symbol(after_marker);
  if (start.sig->rule == TitleRule::Kasan) {
    auto in = after_marker.find(" in ");
    if (in != string_view::npos) header_function = parse_symbol(after_marker.substr(in + 4), true);
  }
  report.guilty_frame = pick_guilty_frame(blame_candidates(lines, report.kind, header_function), report.kind);
  const std::string& frame = report.guilty_frame;

  switch (start.sig->rule) {
    case TitleRule::Fixed:
      report.title = with_frame(std::string(start.sig->title), frame);
      break;
    case TitleRule::Kasan: {
      std::string title = "KASAN: " + stable_message(after_marker.substr(0, after_marker.find_first_of(" :")));
      for (const auto& l : lines) {
        string_view s = trim_left(l.text);
        if (s.substr(0, 5) == "Read " || s.substr(0, 6) == "Write ") {
          title += s[0] == 'R' ? " Read" : " Write";
          break;
        }
      }
      report.title = with_frame(title, frame);
      break;
    }
    case TitleRule::Ubsan: {
      auto in = after_marker.find(" in ");
      report.title = with_frame("UBSAN: " + stable_message(after_marker.substr(0, in)), frame);
      break;
    }
    case TitleRule::KernelBug: {
      string_view file = source_file_after(from_marker, "kernel BUG at ");
      std::string base = ends_with(file, "lib/list_debug.c") ? "BUG: corrupted list"
                         : ends_with(file, "mm/usercopy.c")  ? "BUG: bad usercopy"
                                                             : "kernel BUG";
      report.title = with_frame(base, frame);
      break;
    }
    case TitleRule::Warning: {
      string_view file = source_file_after(after_marker, " at ");
      report.title = with_frame(ends_with(file, "lib/refcount.c") ? "WARNING: refcount bug" : "WARNING", frame);
      break;
    }
    case TitleRule::Panic: {
      std::string message = stable_message(after_marker);
      report.title = "kernel panic: " + (message.empty() ? std::string("(no message)") : message);
      break;
    }
    case TitleRule::Generic: {
      string_view word = start.sig->marker.substr(0, start.sig->marker.size() - 1);  // "BUG:" / "WARNING:"
      std::string message = stable_message(headline(after_marker));
      report.title = with_frame(message.empty() ? std::string(word) : std::string(word) + " " + message, frame);
      break;
    }
    case TitleRule::Slub: {
      auto colon = from_marker.find("ainted): ");
      string_view message = colon == string_view::npos ? string_view{} : from_marker.substr(colon + 9);
      std::string stable = stable_message(headline(message));
      report.title = with_frame(stable.empty() ? std::string("BUG: slab corruption") : "BUG: " + stable, frame);
      break;
    }
  }
  report.title = printable(report.title, kMaxTitleBytes + 64);

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
    case CrashKind::Oops: return "oops";
    case CrashKind::Panic: return "panic";
    case CrashKind::Warning: return "warning";
    case CrashKind::Kasan: return "kasan";
    case CrashKind::Ubsan: return "ubsan";
    case CrashKind::HungTask: return "hung_task";
    case CrashKind::RcuStall: return "rcu_stall";
    case CrashKind::SoftLockup: return "soft_lockup";
    case CrashKind::HardLockup: return "hard_lockup";
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

bool is_machinery_frame(string_view function) {
  string_view f = base_function(function);
  return is_reporting_frame(f) || is_entry_frame(f) || is_internal_frame(f);
}

ConsoleScan scan_console(string_view log) {
  ConsoleScan scan;
  scan.events.reserve(ConsoleScan::kMaxEvents);
  EventLog events(scan);
  ReportStart start;
  // The latest "[ cut here ]" line: WARN and BUG print it just before their header.
  std::size_t cut_offset = 0, cut_number = 0;
  std::string cut_caller;

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
    if (const CrashSignature* sig = match_signature(line.text)) {
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
