#pragma once
// Which call-trace functions a kernel developer would blame for a crash, and which they read
// past: the curated frame tables of the crash detector (crash_report.h). A function name here
// is the base name, compiler suffixes (".isra.0", ".cold") already cut.
#include <string_view>

namespace fb {

enum class FrameRole {
  Code,       // code under test: the place to blame
  Entry,      // plumbing every call passes through (syscall entry, interrupt and thread
              // dispatch, LKDTM triggers): blamed only when no code frame is left
  Helper,     // locks, allocators, string and copy helpers, waits, sanitizer hooks: they
              // carry a bug into the report rather than cause it; blamed last
  Reporting,  // prints, traps or detects (dump_stack, __warn, lockdep, kasan_report,
              // exception entry): never blamed
};

FrameRole frame_role(std::string_view function);

// Whether a hung task's frame only says how it sleeps: a lock, a wait or a timeout in its name
// ("tty_ldisc_lock_pair_timeout", "usb_start_wait_urb", "console_lock"). The caller is blamed.
bool is_sleep_frame(std::string_view function);

// Allocation wrappers ("sock_kmalloc", "sk_prot_alloc", "kstrdup"): a leak is blamed on whoever
// asked them for memory.
bool is_allocation_frame(std::string_view function);

// Where a stall's work was dispatched from (softirq and timer loops, workqueues, the syscall
// layer): the frame a stall report blames is the one just inside the innermost of these.
bool is_dispatch_frame(std::string_view function);

}  // namespace fb
