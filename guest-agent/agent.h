#pragma once
// The agent's event loop: serves control requests, runs workloads with their output streamed
// as trace frames, and reports their exits. Single-threaded, poll()-based: as PID 1 it must
// stay small and predictable.
#include "common/fd.h"
#include "guest-agent/faults.h"
#include "guest-agent/step_cgroup.h"
#include "protocol/frame.h"
#include "protocol/line_splitter.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fb::agent {

struct AgentOptions {
  bool pid1 = false;  // reap every orphan, end the VM on shutdown
  // Where each exec gets its own cgroup v2 (step-<channel>); empty: none (the agent on the
  // host must not touch the host's cgroups).
  std::string step_cgroup_root;
};

class Agent {
 public:
  Agent(Fd control, Fd trace, AgentOptions opts);
  // Serves until shutdown is requested or the control port closes. Returns the exit code
  // the process should use (host mode only).
  int run();

 private:
  struct Exec {
    std::int64_t request_id = 0;
    std::uint32_t channel = 0;
    pid_t pid = -1;
    Fd out, err;
    std::uint64_t seq = 0;
    std::uint64_t started_ns = 0;
    bool reaped = false;
    int wait_status = 0;
    unsigned fail_nth = 0;            // what was written to /proc/<pid>/fail-nth at the exec stop
    long long fail_nth_left = -1;     // read back as the process exited: 0 means it was injected
    std::optional<StepCgroup> cgroup;
    std::vector<int> faults;  // handles of the armed faults aimed at this exec
    StepProcess step;         // what they were told
  };

  // An exec request, checked against the limits and the armed faults.
  struct ExecRequest {
    std::vector<std::string> argv;
    std::vector<std::string> env;  // the defaults, the scenario disks, then the request's own
    std::string cwd;
    // Task-filtered faults hit only processes marked here; children inherit the mark.
    bool make_it_fail = false;
    // fail-nth: the Nth fault site this process reaches fails (any fault type, regardless of
    // probability); counting starts at its first instruction. Not inherited by its children.
    unsigned fail_nth = 0;
    // Faults that choose their victims themselves (bpf_override) are told the step's cgroup.
    std::vector<int> aimed;
    // Instead of the whole step, its faults hit what it moves into $FAULTBOX_CGROUP/target.
    bool aim_self = false;
    // A tracefs dir: the process's pid goes into its set_ftrace_pid and tracing is switched on
    // at its first instruction (`faultbox explore` counts the injectable functions it calls).
    std::string ftrace_pid;
    // Each of these waits for the program's first instruction, so none hits the agent's fork and exec.
    bool stop_at_exec() const { return make_it_fail || fail_nth > 0 || !aimed.empty() || !ftrace_pid.empty(); }
  };

  // A forked step: its first process (stopped at exec when the request asks) and its pipes.
  struct SpawnedStep {
    pid_t pid = -1;
    Fd out, err;
    std::optional<StepCgroup> cgroup;
  };

  void on_control_readable();
  void handle_line(const std::string& line);
  void handle_request(const nlohmann::json& req);
  void handle_exec(const nlohmann::json& req);
  AgentResult<ExecRequest> parse_exec_request(const nlohmann::json& req) const;
  // Forks and execs the step in its cgroup with its output on pipes; fails when the child
  // could not join the cgroup or exec.
  AgentResult<SpawnedStep> spawn_step(const ExecRequest& request, std::uint32_t channel);
  // While the step is stopped at exec: make-it-fail, fail-nth and the aimed faults' on_step_start,
  // then it runs. On failure the step is killed and the faults told it ended.
  AgentStatus set_up_step_at_exec(const ExecRequest& request, pid_t pid, const StepProcess& step);
  void handle_signal(const nlohmann::json& req);
  void handle_arm(const nlohmann::json& req);
  void handle_disarm(const nlohmann::json& req);
  void handle_kmsg(const nlohmann::json& req);
  void handle_sysrq(const nlohmann::json& req);
  void handle_read(const nlohmann::json& req);
  void handle_trace_events(const nlohmann::json& req);
  int pump_trace_events();  // bytes sent
  // Sends a heartbeat when one is due; returns the poll timeout until the next (-1: none).
  int beat();
  int pump_kmsg();  // records sent
  // Sends every kernel record there is now, so a reply that follows carries a complete mark.
  void drain_kmsg();
  void reap_children();
  // Reads what the pipe holds now and sends it as frames; returns false on EOF.
  bool pump(Exec& e, Fd& fd, proto::Stream stream, bool until_empty);
  void finish(Exec& e);
  void send_frame(Exec& e, proto::Stream stream, const char* data, std::size_t len);
  void send_json(const nlohmann::json& j);
  void reply_ok(const nlohmann::json& req, nlohmann::json body = nlohmann::json::object());
  void reply_error(const nlohmann::json& id, const char* code, const std::string& message);
  void reply_error(const nlohmann::json& id, const AgentError& error);

  Fd control_;
  Fd trace_;
  Fd sigchld_;
  AgentOptions opts_;
  proto::LineSplitter lines_;
  std::map<std::uint32_t, Exec> execs_;
  std::map<int, std::unique_ptr<Fault>> faults_;
  int next_fault_ = 1;
  Fd kmsg_;
  Fd trace_pipe_;                      // instances/faultbox/trace_pipe, once events are asked for
  std::uint64_t trace_seq_ = 0;
  std::uint64_t kmsg_seq_ = 0;         // frames sent on the kmsg channel
  std::int64_t kmsg_last_record_ = -1;  // sequence number of the last kernel record sent
  std::uint32_t next_channel_ = 1;
  std::uint64_t heartbeat_ns_ = 0;  // 0: off until the host's hello asks for it
  std::uint64_t next_beat_ns_ = 0;
  std::uint64_t beats_ = 0;
  bool shutting_down_ = false;
  bool control_closed_ = false;
};

std::uint64_t monotonic_ns();

}  // namespace fb::agent
