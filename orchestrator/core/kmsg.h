#pragma once
// The kernel log as /dev/kmsg hands it out ("prio,seq,usec,flags;text" records), turned into
// readable lines, and the fault-injection events in it: each "FAULT_INJECTION: forcing a
// failure" record with the fault's name and the stack dumped after it.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fb {

struct KmsgRecord {
  int level = 6;
  std::uint64_t seq = 0;
  std::uint64_t usec = 0;
  std::string text;  // \xNN escapes decoded; may hold newlines
  std::string line() const;  // "[   12.345678] text"
};

// Splits a byte stream of records; incomplete trailing bytes stay in `pending`.
class KmsgParser {
 public:
  void feed(std::string_view bytes, std::vector<KmsgRecord>& out);

 private:
  std::string pending_;
};

struct InjectionEvent {
  std::string fault;                // the debugfs attribute's name: failslab, fail_make_request, ...
  std::string task;                 // "Comm: xxx" of the failing task, when dumped
  std::vector<std::string> frames;  // call trace, innermost first, without the injection machinery
  std::string stack_signature() const;  // "f1 <- f2 <- ... <- f10" of the first ten frames
};

std::vector<InjectionEvent> find_injections(std::span<const KmsgRecord> records);

// A process the OOM killer killed: "Out of memory: Killed process 27 (tail) total-vm:..." or
// "Memory cgroup out of memory: Killed process ..." (a cgroup's memory.max was hit).
struct OomKill {
  long pid = 0;
  std::string comm;
  std::string reason;  // "memory cgroup" or "system"
  std::string memcg;   // the cgroup whose limit was hit, from the "oom-kill:" record before it
};

std::vector<OomKill> find_oom_kills(std::span<const KmsgRecord> records);

}  // namespace fb
