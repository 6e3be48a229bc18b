#include "orchestrator/vm/agent_client.h"

#include "orchestrator/core/log.h"
#include "orchestrator/vm/port_listener.h"
#include "protocol/protocol.h"

#include <algorithm>
#include <csignal>
#include <random>

namespace fb {

using nlohmann::json;

AgentClient::AgentClient(asio::io_context& io, Vm& vm, Timeouts timeouts)
    : io_(io), vm_(vm), timeouts_(timeouts), lines_(proto::kMaxLineBytes) {
  read_forever(vm_.control(), std::make_shared<std::array<char, 65536>>(),
               [this](std::string_view d) { on_control(d); }, [this] { control_eof_ = true; });
  read_forever(vm_.trace(), std::make_shared<std::array<char, 65536>>(), [this](std::string_view d) { on_trace(d); },
               [] {});
}

AgentClient::~AgentClient() { *alive_ = false; }

void AgentClient::on_control(std::string_view d) {
  last_heard_ = std::chrono::steady_clock::now();
  lines_.feed(d);
  while (auto item = lines_.next()) {
    auto* line = std::get_if<std::string>(&*item);
    if (!line) {
      debug("agent: dropped an oversize control line");
      continue;
    }
    json j = json::parse(*line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      debug("agent: ignoring non-JSON control line ({} bytes)", line->size());
      continue;
    }
    if (auto ev = j.find("event"); ev != j.end()) {
      if (*ev == proto::event::kReady) {
        ready_seen_ = true;
      } else if (*ev == proto::event::kExit) {
        std::uint32_t ch = j.value("channel", 0u);
        channels_[ch].exit_event = j;
      }
      continue;
    }
    on_reply(std::move(j));
  }
}

void AgentClient::on_reply(json j) {
  auto id = j.find("id");
  bool has_id = id != j.end() && id->is_number_integer();
  if (has_id) {
    std::int64_t n = id->get<std::int64_t>();
    // Lines before it were answered before it, whatever their answer said.
    if (auto it = std::find(unanswered_.begin(), unanswered_.end(), n); it != unanswered_.end())
      unanswered_.erase(unanswered_.begin(), it + 1);
    else if (!unanswered_.empty() && unanswered_.front() == kRawLine)
      unanswered_.pop_front();  // a raw line that carried an id of its own
    replies_[n] = std::move(j);
    return;
  }
  if (unanswered_.empty()) {
    debug("agent: an error reply with no id and no line waiting for it: {}", j.dump());
    return;
  }
  std::int64_t owner = unanswered_.front();
  unanswered_.pop_front();
  // The oldest unanswered line is the one the agent could not read: if it was a request, this
  // is that request's reply (e.g. too_large), so its caller need not wait for a deadline.
  if (owner != kRawLine) replies_[owner] = std::move(j);
}

void AgentClient::deliver(Channel& ch, proto::Frame& f) {
  if (f.seq != ch.next_seq) ++ch.gaps;
  ch.next_seq = f.seq + 1;
  ++ch.frames;
  (f.stream == proto::Stream::Stderr ? ch.err_bytes : ch.out_bytes) += f.payload.size();
  if (ch.sink) ch.sink(f.stream, f.payload);
}

void AgentClient::on_trace(std::string_view d) {
  frames_.feed(d);
  while (auto f = frames_.next()) {
    Channel& ch = channels_[f->channel];
    if (!ch.sink) {
      // Frames may overtake the exec reply that names their channel; keep a bounded few so a
      // guest writing to channels nobody asked for cannot grow us without limit.
      if (ch.early.size() < kMaxEarlyFrames) ch.early.push_back(std::move(*f));
      continue;
    }
    deliver(ch, *f);
  }
}

Error AgentClient::vm_gone_error(const std::string& what) const {
  auto e = vm_.exit_info();
  std::string tail = last_lines(vm_.console(), 15);
  // A VM process killed by a signal nobody in faultbox sent (OOM killer, a user's kill, a QEMU
  // crash) is an infrastructure failure, not something the guest kernel did.
  if (e && e->status.signal != 0 && !e->guest_panicked && e->reason.find("killed by faultbox") == std::string::npos)
    return make_error(ErrorKind::Infra, "the VM process died while waiting for {}: {}", what, e->reason);
  return make_error(ErrorKind::Boot, "VM ended while waiting for {}: {}{}{}", what, e ? e->reason : "control port closed",
                    tail.empty() ? "" : "\n--- last console lines ---\n", tail);
}

Status AgentClient::run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                              const std::string& what) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // Heartbeats that queued up while we were not reading count as heard.
  while (io_.poll() > 0) {
  }
  while (!done()) {
    if (interrupted()) return make_error(ErrorKind::Infra, "interrupted by signal {}", interrupt_signal());
    if (vm_.guest_panicked() && !vm_.exit_info()) {
      // pvpanic said so: the kernel is rebooting (panic=-1, QEMU -no-reboot) or stuck in its
      // panic loop; either way there is nothing more to wait for than its last console lines.
      if (!vm_.wait_exit(timeouts_.panic_exit)) vm_.kill();
    }
    if (vm_.exit_info() || control_eof_) {
      // The port closes as the process dies; how it died (signal? pvpanic?) decides the verdict.
      if (!vm_.exit_info()) vm_.wait_exit(std::chrono::seconds(2));
      // Let bytes already on their way be processed before giving up.
      while (io_.poll() > 0) {
      }
      if (done()) break;
      return vm_gone_error(what);
    }
    auto now = std::chrono::steady_clock::now();
    if (heartbeats_ && now - last_heard_ > timeouts_.heartbeat_loss) {
      agent_silent_ = true;
      return make_error(ErrorKind::Timeout, "the guest stopped answering while waiting for {}: no agent heartbeat for {:.0f} s",
                        what, std::chrono::duration<double>(now - last_heard_).count());
    }
    if (now > deadline)
      return make_error(ErrorKind::Timeout, "no answer from the agent for {} within {:.1f} s", what,
                        static_cast<double>(timeout.count()) / 1000.0);
    io_.run_one_for(std::chrono::milliseconds(50));
  }
  return {};
}

void AgentClient::send(std::string_view bytes, std::optional<std::int64_t> request_id) {
  boost::system::error_code ec;
  asio::write(vm_.control(), asio::buffer(bytes.data(), bytes.size()), ec);
  // The agent's line splitter, mirrored: each '\n' ends a line; an empty one gets no reply.
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] != '\n') {
      ++open_line_bytes_;
      open_line_cr_ = bytes[i] == '\r';
      continue;
    }
    bool answered = open_line_bytes_ > (open_line_cr_ ? 1u : 0u);
    open_line_bytes_ = 0;
    open_line_cr_ = false;
    if (answered) unanswered_.push_back(request_id && i + 1 == bytes.size() ? *request_id : kRawLine);
  }
}

void AgentClient::send_raw(std::string_view bytes) { send(bytes, std::nullopt); }

Result<json> AgentClient::request(json req, std::chrono::milliseconds timeout) {
  std::int64_t id = next_id_++;
  req["id"] = id;
  send(req.dump() + "\n", id);
  std::string what = "'" + req.value("op", std::string("?")) + "'";
  auto st = run_until([&] { return replies_.count(id) != 0; }, timeout, what);
  if (!st) return st.error();
  json reply = std::move(replies_[id]);
  replies_.erase(id);
  return reply;
}

Result<AgentHello> AgentClient::connect() {
  // Resync: whatever sat in the port before us is discarded up to our token's echo.
  std::string token = std::to_string(std::random_device{}()) + "-" + std::to_string(getpid());
  auto sync = request({{"op", proto::op::kSync}, {"token", token}}, timeouts_.boot);
  if (!sync) {
    if (sync.error().kind == ErrorKind::Timeout) {
      std::string tail = last_lines(vm_.console(), 15);
      return make_error(ErrorKind::Boot, "the guest agent did not answer within {:.0f} s of boot{}{}",
                        static_cast<double>(timeouts_.boot.count()) / 1000.0,
                        tail.empty() ? " (the console printed nothing)" : "\n--- last console lines ---\n", tail);
    }
    return sync.error();
  }
  if (sync->value("token", std::string()) != token)
    return make_error(ErrorKind::Protocol, "agent echoed the wrong sync token");
  auto hello = request({{"op", proto::op::kHello},
                        {"protocol", proto::kVersion},
                        {"heartbeat_ms", timeouts_.heartbeat_interval.count()}},
                       timeouts_.request);
  if (!hello) return hello.error();
  if (!hello->value("ok", false)) {
    auto err = (*hello)["error"];
    return make_error(ErrorKind::Protocol, "agent refused hello: {} (rebuild the image: faultbox image build)",
                      err.value("message", std::string("?")));
  }
  heartbeats_ = true;
  last_heard_ = std::chrono::steady_clock::now();
  AgentHello h;
  h.raw = *hello;
  h.protocol = hello->value("protocol", 0);
  h.kernel_release = hello->value("kernel_release", "");
  for (auto& f : hello->value("faults", json::array())) h.faults.push_back(f.get<std::string>());
  for (auto& i : hello->value("injectable", json::array()))
    h.injectable.emplace_back(i.value("function", ""), i.value("type", ""));
  return h;
}

Result<std::chrono::nanoseconds> AgentClient::ping() {
  auto t0 = std::chrono::steady_clock::now();
  auto r = request({{"op", proto::op::kPing}}, timeouts_.request);
  if (!r) return r.error();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0);
}

Result<std::int64_t> AgentClient::kmsg_mark() {
  auto r = request({{"op", proto::op::kPing}}, timeouts_.request);
  if (!r) return r.error();
  return r->value("kmsg_record", std::int64_t{-1});
}

Result<std::uint32_t> AgentClient::start_exec(const ExecRequest& req, const OutputSink& sink) {
  json j = {{"op", proto::op::kExec}, {"argv", req.argv}, {"cwd", req.cwd}, {"make_it_fail", req.make_it_fail}};
  if (!req.faults.empty()) j["faults"] = req.faults;
  if (req.aim_self) j["aim_self"] = true;
  if (!req.env.empty()) j["env"] = req.env;
  if (req.fail_nth > 0) j["fail_nth"] = req.fail_nth;
  if (!req.ftrace_pid.empty()) j["ftrace_pid"] = req.ftrace_pid;
  auto reply = request(j, timeouts_.request);
  if (!reply) return reply.error();
  if (!reply->value("ok", false)) {
    auto err = (*reply)["error"];
    return make_error(ErrorKind::Usage, "guest could not run {}: {}", req.argv[0], err.value("message", std::string("?")));
  }
  std::uint32_t ch_id = reply->value("channel", 0u);
  Channel& ch = channels_[ch_id];
  ch.sink = sink;
  ch.pid = reply->value("pid", 0l);
  while (!ch.early.empty()) {
    deliver(ch, ch.early.front());
    ch.early.pop_front();
  }
  return ch_id;
}

Result<ExecResult> AgentClient::wait_exec(std::uint32_t ch_id, const ExecRequest& req) {
  Channel& ch = channels_[ch_id];
  // Done when the exit event came and every frame it counts has arrived (the two ports are
  // independent, so the event may overtake the last frames).
  auto finished = [&] { return ch.exit_event && ch.frames >= ch.exit_event->value("frames", 0ull); };
  auto abandoned = [&] { return req.abandon && req.abandon(); };
  auto timeout = req.timeout.count() > 0 ? req.timeout : std::chrono::milliseconds(std::chrono::hours(24 * 365));
  auto st = run_until([&] { return finished() || abandoned(); }, timeout, "'" + req.argv[0] + "' to finish");
  if (st && !finished()) {
    (void)request({{"op", proto::op::kSignal}, {"channel", ch_id}, {"signal", SIGKILL}}, timeouts_.request);
    channels_.erase(ch_id);
    ExecResult r;
    r.abandoned = true;
    return r;
  }
  if (!st) {
    if (st.error().kind == ErrorKind::Timeout && req.on_timeout) req.on_timeout();
    if (st.error().kind == ErrorKind::Timeout && !agent_silent_)
      (void)request({{"op", proto::op::kSignal}, {"channel", ch_id}, {"signal", SIGKILL}}, timeouts_.request);
    channels_.erase(ch_id);
    return st.error();
  }
  ExecResult r;
  const json& ev = *ch.exit_event;
  r.status.signal = ev.value("signal", 0);
  r.status.code = ev["code"].is_number() ? ev["code"].get<int>() : -1;
  r.frames = ch.frames;
  r.stdout_bytes = ch.out_bytes;
  r.stderr_bytes = ch.err_bytes;
  r.seq_gaps = ch.gaps;
  r.pid = ch.pid;
  r.guest_duration = std::chrono::nanoseconds(ev.value("duration_ns", 0ll));
  if (ev.contains("fail_nth_left") && ev["fail_nth_left"].is_number_integer())
    r.fail_nth_left = ev["fail_nth_left"].get<long long>();
  channels_.erase(ch_id);
  return r;
}

Result<ExecResult> AgentClient::exec(const ExecRequest& req, const OutputSink& sink) {
  auto ch = start_exec(req, sink);
  if (!ch) return ch.error();
  return wait_exec(*ch, req);
}

Status AgentClient::shutdown() {
  auto r = request({{"op", proto::op::kShutdown}}, timeouts_.request);
  if (!r && r.error().kind != ErrorKind::Boot) {  // Boot: the VM already went, which is the aim
    vm_.kill();
    return r.error();
  }
  if (!vm_.wait_exit(timeouts_.shutdown)) {
    vm_.kill();
    return make_error(ErrorKind::Infra, "VM did not end within {} ms of shutdown; killed", timeouts_.shutdown.count());
  }
  return {};
}

}  // namespace fb

namespace fb {

Result<ArmedFault> AgentClient::arm(const json& fault) {
  auto r = request({{"op", proto::op::kArm}, {"fault", fault}}, timeouts_.request);
  if (!r) return r.error();
  if (!r->value("ok", false)) {
    auto err = (*r)["error"];
    return make_error(ErrorKind::Usage, "cannot arm fault '{}': {}", fault.value("name", std::string("?")),
                      err.value("message", std::string("?")));
  }
  return ArmedFault{r->value("handle", 0), r->value("needs_task_mark", false),
                    r->value("info", json::object())};
}

Result<json> AgentClient::disarm(int handle) {
  auto r = request({{"op", proto::op::kDisarm}, {"handle", handle}}, timeouts_.request);
  if (!r) return r.error();
  if (!r->value("ok", false))
    return make_error(ErrorKind::Protocol, "disarm failed: {}", (*r)["error"].value("message", std::string("?")));
  // The kernel record the agent had sent when it replied: the host waits for it on the trace
  // port before attributing the log to the step.
  json c = (*r)["counters"];
  c["kmsg_record"] = r->value("kmsg_record", std::int64_t{-1});
  return c;
}

Result<std::int64_t> AgentClient::sysrq(const std::string& keys) {
  if (agent_silent_) return make_error(ErrorKind::Timeout, "the agent is silent");
  auto r = request({{"op", proto::op::kSysrq}, {"keys", keys}}, timeouts_.request);
  if (!r) return r.error();
  if (!r->value("ok", false))
    return make_error(ErrorKind::Infra, "sysrq: {}", (*r)["error"].value("message", std::string("?")));
  return r->value("kmsg_record", std::int64_t{-1});
}

Result<std::map<std::string, std::string>> AgentClient::read_files(const std::vector<std::string>& paths) {
  auto r = request({{"op", proto::op::kRead}, {"paths", paths}}, timeouts_.request);
  if (!r) return r.error();
  if (!r->value("ok", false))
    return make_error(ErrorKind::Infra, "read: {}", (*r)["error"].value("message", std::string("?")));
  std::map<std::string, std::string> out;
  for (auto& [path, f] : (*r)["files"].items())
    out[path] = f.contains("text") ? f["text"].get<std::string>() : "(error: " + f.value("error", std::string("?")) + ")";
  return out;
}

Status AgentClient::follow_trace_events(const std::vector<std::string>& events,
                                        std::function<void(std::string_view)> sink) {
  Channel& ch = channels_[proto::kTraceEventsChannel];
  ch.sink = [sink = std::move(sink)](proto::Stream, std::string_view d) { sink(d); };
  while (!ch.early.empty()) {
    deliver(ch, ch.early.front());
    ch.early.pop_front();
  }
  auto r = request({{"op", proto::op::kTraceEvents}, {"events", events}}, timeouts_.request);
  if (!r) return r.error();
  if (!r->value("ok", false))
    return make_error(ErrorKind::Usage, "trace_events: {}", (*r)["error"].value("message", std::string("?")));
  return {};
}

Status AgentClient::follow_kmsg(std::function<void(std::string_view)> sink) {
  Channel& ch = channels_[proto::kKmsgChannel];
  ch.sink = [sink = std::move(sink)](proto::Stream, std::string_view d) { sink(d); };
  while (!ch.early.empty()) {
    deliver(ch, ch.early.front());
    ch.early.pop_front();
  }
  auto r = request({{"op", proto::op::kKmsg}}, timeouts_.request);
  if (!r) return r.error();
  if (!r->value("ok", false))
    return make_error(ErrorKind::Infra, "kernel log stream: {}", (*r)["error"].value("message", std::string("?")));
  return {};
}

}  // namespace fb
