#pragma once
// The guest's kernel log and tracefs events as they stream in over the trace port: kept with a
// cap (a guest that floods its log cannot grow the host without bound), shown live with
// --follow, and synchronised with the control channel through the agent's record marks.
#include "orchestrator/core/kmsg.h"
#include "orchestrator/vm/agent_client.h"

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace fb {

class KernelLog {
 public:
  explicit KernelLog(bool follow) : follow_(follow) {}
  KernelLog(const KernelLog&) = delete;
  KernelLog& operator=(const KernelLog&) = delete;

  // Starts the kernel log stream (and the tracefs events, when any are asked for).
  Status follow(AgentClient& agent, const std::vector<std::string>& trace_events);
  // Waits (a bounded number of pings) until record `mark` has arrived; -1 waits for nothing.
  void wait_for(AgentClient& agent, std::int64_t mark);
  // Waits until every record the kernel had logged by now has arrived.
  void sync(AgentClient& agent);

  std::size_t size() const { return records_.size(); }
  // The records from index `from` on (a step's, when from is the size at its start).
  std::span<const KmsgRecord> since(std::size_t from) const;
  std::span<const KmsgRecord> between(std::size_t from, std::size_t to) const;
  std::string text(std::size_t from = 0) const;  // one line per record, from index `from` on
  const std::string& trace() const { return trace_; }
  // A warning for the report when the cap cut the log, else "".
  std::string cap_warning() const;

 private:
  void on_kmsg(std::string_view d);
  void on_trace(std::string_view d);

  bool follow_;
  std::vector<KmsgRecord> records_;
  KmsgParser parser_;
  std::size_t bytes_ = 0, dropped_chunks_ = 0;
  std::string trace_, trace_partial_;
  bool trace_cut_ = false;
};

// Appends d to `to` up to cap bytes, then one line saying where the cut is.
void append_capped(std::string& to, std::string_view d, std::size_t cap, bool& truncated);

}  // namespace fb
