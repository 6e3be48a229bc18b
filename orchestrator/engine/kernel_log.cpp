#include "orchestrator/engine/kernel_log.h"

#include "orchestrator/core/log.h"

#include <fmt/format.h>

namespace fb {

namespace {
// What a run keeps of the guest's log (seen: a task looping in its page faults logged for 90
// minutes and the host process reached 12 GB). Counters stay exact regardless.
constexpr std::size_t kMaxKmsgBytes = 32 << 20;
}  // namespace

void append_capped(std::string& to, std::string_view d, std::size_t cap, bool& truncated) {
  if (to.size() + d.size() <= cap) {
    to.append(d);
  } else if (!truncated) {
    to.append(d.substr(0, cap - std::min(cap, to.size())));
    to.append("\n[faultbox: output truncated here]\n");
    truncated = true;
  }
}

Status KernelLog::follow(AgentClient& agent, const std::vector<std::string>& trace_events) {
  FB_TRY(agent.follow_kmsg([this](std::string_view d) { on_kmsg(d); }));
  if (trace_events.empty()) return {};
  return agent.follow_trace_events(trace_events, [this](std::string_view d) { on_trace(d); });
}

void KernelLog::on_kmsg(std::string_view d) {
  if (bytes_ + d.size() > kMaxKmsgBytes) {
    ++dropped_chunks_;
    return;
  }
  bytes_ += d.size();
  std::size_t before = records_.size();
  parser_.feed(d, records_);
  if (follow_)
    for (std::size_t i = before; i < records_.size(); ++i) log_line(Verbosity::Quiet, "kmsg: " + records_[i].line());
}

void KernelLog::on_trace(std::string_view d) {
  append_capped(trace_, d, kMaxKmsgBytes, trace_cut_);
  if (!follow_) return;
  trace_partial_.append(d);
  std::size_t pos;
  while ((pos = trace_partial_.find('\n')) != std::string::npos) {
    log_line(Verbosity::Quiet, "trace: " + trace_partial_.substr(0, pos));
    trace_partial_.erase(0, pos + 1);
  }
}

void KernelLog::wait_for(AgentClient& agent, std::int64_t mark) {
  for (int i = 0; i < 100 && mark >= 0 && (records_.empty() || static_cast<std::int64_t>(records_.back().seq) < mark); ++i)
    (void)agent.ping();
}

void KernelLog::sync(AgentClient& agent) {
  if (auto mark = agent.kmsg_mark()) wait_for(agent, *mark);
}

std::span<const KmsgRecord> KernelLog::since(std::size_t from) const { return between(from, records_.size()); }

std::span<const KmsgRecord> KernelLog::between(std::size_t from, std::size_t to) const {
  to = std::min(to, records_.size());
  from = std::min(from, to);
  return std::span<const KmsgRecord>(records_).subspan(from, to - from);
}

std::string KernelLog::text(std::size_t from) const {
  std::string out;
  for (auto& rec : since(from)) out += rec.line() + "\n";
  return out;
}

std::string KernelLog::cap_warning() const {
  if (!dropped_chunks_) return {};
  return fmt::format("kernel log kept only its first {} MiB; {} later chunks dropped (stacks after that are missing, "
                     "fired counts are exact)",
                     kMaxKmsgBytes >> 20, dropped_chunks_);
}

}  // namespace fb
