#pragma once
// The host side of the protocol (protocol/protocol.h), over a Vm's two ports. Synchronous
// calls that run the io_context until their answer arrives, the VM dies, a deadline passes,
// or the user interrupts.
#include "orchestrator/vm/vm.h"
#include "protocol/frame.h"
#include "protocol/line_splitter.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <map>
#include <optional>

namespace fb {

struct AgentHello {
  int protocol = 0;
  std::string kernel_release;
  std::vector<std::string> faults;
  std::vector<std::pair<std::string, std::string>> injectable;  // function, type
  nlohmann::json raw;
};

struct ExecRequest {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string cwd = "/";
  std::chrono::milliseconds timeout{0};  // 0: none
  bool make_it_fail = false;             // mark the process for task-filtered faults
  unsigned fail_nth = 0;                 // fail the Nth fault site the process reaches (0: off)
  // Called when the timeout passes, before the command is killed: the moment to look at it.
  std::function<void()> on_timeout;
  // Polled while the command runs: once true, its process group is killed and wait_exec returns
  // at once with `abandoned` set (its output has nowhere to go, e.g. exec's stdout closed).
  std::function<bool()> abandon;
  std::vector<int> faults;               // armed faults aimed at this exec (told its cgroup and pid)
  bool aim_self = false;                 // they hit only what the step moves into $FAULTBOX_CGROUP/target
  std::string ftrace_pid;                // a tracefs dir: trace this process (and, with function-fork, its children)
};

struct ArmedFault {
  int handle = 0;
  bool needs_task_mark = false;
  nlohmann::json info = nlohmann::json::object();  // e.g. {"device": "/dev/dm-0"}
};

struct ExecResult {
  ExitStatus status;
  std::uint64_t frames = 0;
  std::uint64_t stdout_bytes = 0;
  std::uint64_t stderr_bytes = 0;
  std::uint64_t seq_gaps = 0;  // frames missing or out of order: must be 0
  std::chrono::nanoseconds guest_duration{0};
  std::optional<long long> fail_nth_left;  // with fail_nth: 0 = injected, N = ended N sites short
  bool abandoned = false;                  // ExecRequest::abandon ended it; status is not known
  long pid = 0;                            // the command's pid in the guest (from the exec reply)
};

using OutputSink = std::function<void(proto::Stream, std::string_view)>;

class AgentClient {
 public:
  AgentClient(asio::io_context& io, Vm& vm, Timeouts timeouts);
  ~AgentClient();
  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;

  // Waits for the agent (boot), resynchronises the control stream, checks the protocol
  // version and returns what the kernel offers.
  Result<AgentHello> connect();
  Result<std::chrono::nanoseconds> ping();
  // The number of the last kernel record the agent has sent (after sending all it had): wait for
  // that record on the trace port and the kernel log is complete up to now. -1: none yet.
  Result<std::int64_t> kmsg_mark();
  Result<ExecResult> exec(const ExecRequest& req, const OutputSink& sink);
  // The two halves of exec, for commands that run side by side: start returns the channel;
  // its output reaches sink whenever the io_context runs (while waiting for anything else too).
  Result<std::uint32_t> start_exec(const ExecRequest& req, const OutputSink& sink);
  Result<ExecResult> wait_exec(std::uint32_t channel, const ExecRequest& req);
  // Asks the agent to end the VM and waits for it; kills it when it does not end in time.
  Status shutdown();

  // Arms a fault ({"type", "name", "params"}); an agent refusal is a Usage error with its reason.
  Result<ArmedFault> arm(const nlohmann::json& fault);
  // Disarms it and returns its counters ({"fired": N, ...}).
  Result<nlohmann::json> disarm(int handle);
  // Starts the kernel log stream; each /dev/kmsg record goes to sink as it arrives.
  Status follow_kmsg(std::function<void(std::string_view record)> sink);
  // Enables tracefs events (SUBSYSTEM:EVENT) in a private instance; trace_pipe text goes to sink
  // as it arrives. A missing event is a Usage error naming it.
  Status follow_trace_events(const std::vector<std::string>& events, std::function<void(std::string_view text)> sink);
  // Asks the agent to press sysrq keys in the guest; returns the last kernel record number the
  // agent had sent when it replied.
  Result<std::int64_t> sysrq(const std::string& keys);
  // Reads guest files; each path maps to its text, or "(error: ...)" when it could not be read.
  Result<std::map<std::string, std::string>> read_files(const std::vector<std::string>& paths);
  // True once the agent missed its heartbeats for timeouts.heartbeat_loss: the guest is wedged
  // (or the agent is), so asking it anything is pointless.
  bool agent_silent() const { return agent_silent_; }

  // Sends a raw line (tests use this to feed garbage).
  void send_raw(std::string_view bytes);
  // Sends a request and waits for its reply (ok or error both returned as JSON).
  Result<nlohmann::json> request(nlohmann::json req, std::chrono::milliseconds timeout);
  std::uint64_t trace_skipped_bytes() const { return frames_.skipped_bytes(); }

 private:
  static constexpr std::size_t kMaxEarlyFrames = 1024;
  struct Channel {
    OutputSink sink;
    std::uint64_t next_seq = 0;
    std::uint64_t gaps = 0;
    std::uint64_t frames = 0, out_bytes = 0, err_bytes = 0;
    std::deque<proto::Frame> early;  // frames that came before the exec reply named the channel
    std::optional<nlohmann::json> exit_event;
    long pid = 0;
  };

  void on_control(std::string_view d);
  void on_reply(nlohmann::json j);
  // Writes bytes to the control port and notes each line they complete: for a request, its id.
  void send(std::string_view bytes, std::optional<std::int64_t> request_id);
  void on_trace(std::string_view d);
  void deliver(Channel& ch, proto::Frame& f);
  // Runs the io_context until done() or failure; names what it waited for in errors.
  Status run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout, const std::string& what);
  Error vm_gone_error(const std::string& what) const;

  asio::io_context& io_;
  Vm& vm_;
  Timeouts timeouts_;
  proto::LineSplitter lines_;
  proto::FrameDecoder frames_;
  std::int64_t next_id_ = 1;
  std::map<std::int64_t, nlohmann::json> replies_;
  // The agent answers every non-empty line once, in the order it read them, but a line it could
  // not read (over kMaxLineBytes, not JSON) gets "id": null. So the lines sent and not yet
  // answered, oldest first (the id of a request, kRawLine for bytes from send_raw), tell whose
  // reply a null id is.
  static constexpr std::int64_t kRawLine = -1;
  std::deque<std::int64_t> unanswered_;
  std::size_t open_line_bytes_ = 0;  // sent since the last '\n' (a '\r' just before it does not count)
  bool open_line_cr_ = false;
  std::map<std::uint32_t, Channel> channels_;
  bool ready_seen_ = false;
  bool heartbeats_ = false;  // the agent was asked for them (after hello)
  bool agent_silent_ = false;
  std::chrono::steady_clock::time_point last_heard_ = std::chrono::steady_clock::now();
  bool control_eof_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace fb
