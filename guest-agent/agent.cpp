#include "guest-agent/agent.h"

#include "guest-agent/disk_lookup.h"

#include "guest-agent/guest_init.h"
#include "guest-agent/kernel_facts.h"
#include "guest-agent/sysfs_text.h"
#include "protocol/protocol.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fstream>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <poll.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace fb::agent {

using nlohmann::json;

namespace {

// What a forked child reports through its status pipe when it cannot become the step.
constexpr int kChildStageExec = 0;    // chdir or execvp failed
constexpr int kChildStageCgroup = 1;  // moving into the step's cgroup failed

// Writes value to /proc/<pid>/<knob>; the error reads "<knob>: <path>: <errno text>".
Status write_proc_knob(pid_t pid, const std::string& knob, const std::string& value) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + knob;
  Fd f(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!f || write(f.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
    return Error{ErrorKind::Infra, knob + ": " + path + ": " + strerror(errno)};
  return {};
}

// Where execvp would look for program: itself when it names a path, else each directory of
// the command's PATH (the first PATH= of its environment, the one its own getenv sees).
std::vector<std::string> program_candidates(const std::string& program, const std::vector<std::string>& env) {
  if (program.empty()) return {};  // execvp: ENOENT
  if (program.find('/') != std::string::npos) return {program};
  std::string path = "/bin:/usr/bin";  // execvp's default when PATH is unset
  for (auto& e : env)
    if (e.rfind("PATH=", 0) == 0) {
      path = e.substr(5);
      break;
    }
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    std::size_t colon = path.find(':', start);
    std::string dir = path.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    out.push_back(dir.empty() ? program : dir + "/" + program);  // an empty entry is the cwd
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return out;
}

// What a vfork'd child needs to become the step, all made before the vfork: the child shares
// the agent's memory until it execs, so it may not allocate, and nothing it writes may matter.
struct StepChild {
  char* const* argv;
  char* const* envp;
  char** sh_argv;  // {"/bin/sh", <slot for the file>, argv[1]..., nullptr}
  const std::vector<std::string>* program;  // the paths to try, in order
  const char* cwd;
  int out_fd, err_fd, status_fd;
  int cgroup_procs;  // the step cgroup's cgroup.procs, or -1
  bool trace_me;     // stop at exec for the agent (make-it-fail, fail-nth, aimed faults)
};

// The vfork'd child: only system calls from here on (its fd table and signal actions are its
// own). A failure before exec goes back on the close-on-exec status pipe as {stage, errno}.
[[noreturn]] __attribute__((noinline)) void become_step(const StepChild& c) {
  auto fail = [&](int stage) {
    int report[2] = {stage, errno};
    (void)!write(c.status_fd, report, sizeof report);
    _exit(127);
  };
  setsid();
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  int devnull = open("/dev/null", O_RDONLY);
  dup2(devnull, 0);
  dup2(c.out_fd, 1);
  dup2(c.err_fd, 2);
  // Into the step's cgroup before exec, so everything the step starts is in it.
  if (c.cgroup_procs >= 0 && write(c.cgroup_procs, "0", 1) != 1) fail(kChildStageCgroup);
  // The mark must start at the program's first instruction, not before execve (whose own
  // allocations would fail). Stop at the exec under ptrace; the agent marks us, then detaches.
  if (c.trace_me) ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
  if (chdir(c.cwd) != 0) fail(kChildStageExec);
  int first_error = ENOENT;
  for (auto& candidate : *c.program) {
    execve(candidate.c_str(), c.argv, c.envp);
    if (errno == ENOEXEC) {
      c.sh_argv[1] = const_cast<char*>(candidate.c_str());
      execve("/bin/sh", c.sh_argv, c.envp);
      errno = ENOEXEC;
    }
    // execvp's rule: keep looking past a missing file; remember "permission denied".
    if (errno == EACCES) first_error = EACCES;
    else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV && errno != ETIMEDOUT) {
      first_error = errno;
      break;
    }
  }
  errno = first_error;
  fail(kChildStageExec);
  __builtin_unreachable();
}

}  // namespace

std::uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

Agent::Agent(Fd control, Fd trace, AgentOptions opts)
    : control_(std::move(control)), trace_(std::move(trace)), opts_(opts), lines_(proto::kMaxLineBytes) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  sigchld_.reset(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  // A host that goes away must not kill the agent with SIGPIPE; writes fail instead.
  signal(SIGPIPE, SIG_IGN);
}

void Agent::send_json(const json& j) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  s.push_back('\n');
  if (!write_all(control_.get(), s.data(), s.size())) control_closed_ = true;
}

void Agent::reply_ok(const json& req, json body) {
  body["id"] = req.value("id", json());
  body["ok"] = true;
  send_json(body);
}

void Agent::reply_error(const json& id, const char* code, const std::string& message) {
  send_json({{"id", id}, {"ok", false}, {"error", {{"code", code}, {"message", message}}}});
}

void Agent::reply_error(const json& id, const AgentError& error) { reply_error(id, error.code.c_str(), error.message); }

int Agent::run() {
  send_json({{"event", proto::event::kReady}, {"protocol", proto::kVersion}, {"monotonic_ns", monotonic_ns()}});
  std::vector<pollfd> pfds;
  while (!(shutting_down_ && execs_.empty()) && !control_closed_) {
    pfds.clear();
    pfds.push_back({control_.get(), POLLIN, 0});
    pfds.push_back({sigchld_.get(), POLLIN, 0});
    pfds.push_back({kmsg_ ? kmsg_.get() : -1, POLLIN, 0});
    pfds.push_back({trace_pipe_ ? trace_pipe_.get() : -1, POLLIN, 0});
    // Remember which exec/stream each pollfd belongs to.
    std::vector<std::pair<std::uint32_t, proto::Stream>> owners;
    for (auto& [ch, e] : execs_) {
      if (e.out) {
        pfds.push_back({e.out.get(), POLLIN, 0});
        owners.emplace_back(ch, proto::Stream::Stdout);
      }
      if (e.err) {
        pfds.push_back({e.err.get(), POLLIN, 0});
        owners.emplace_back(ch, proto::Stream::Stderr);
      }
    }
    int n = poll(pfds.data(), pfds.size(), beat());
    if (n < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "faultbox-agent: poll: %s\n", strerror(errno));
      return 1;
    }
    constexpr std::size_t kFirstExecFd = 4;
    for (std::size_t i = kFirstExecFd; i < pfds.size(); ++i) {
      if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto [ch, stream] = owners[i - kFirstExecFd];
      auto it = execs_.find(ch);
      if (it == execs_.end()) continue;
      Fd& fd = stream == proto::Stream::Stdout ? it->second.out : it->second.err;
      if (fd && !pump(it->second, fd, stream, false)) fd.reset();
    }
    if (pfds[1].revents & POLLIN) reap_children();
    if (pfds[2].revents & POLLIN) pump_kmsg();
    if (pfds[3].revents & POLLIN) pump_trace_events();
    if (pfds[0].revents & (POLLIN | POLLHUP | POLLERR)) on_control_readable();
    // An exec is finished once its process is reaped and both pipes are drained.
    for (auto it = execs_.begin(); it != execs_.end();) {
      Exec& e = it->second;
      if (e.reaped && !e.out && !e.err) {
        finish(e);
        it = execs_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& [ch, e] : execs_) kill(-e.pid, SIGKILL);
  for (auto& [h, f] : faults_) f->disarm();
  return 0;
}

int Agent::beat() {
  if (heartbeat_ns_ == 0) return -1;
  std::uint64_t now = monotonic_ns();
  if (now >= next_beat_ns_) {
    send_json({{"event", proto::event::kHeartbeat}, {"n", beats_++}, {"monotonic_ns", now}});
    next_beat_ns_ = now + heartbeat_ns_;
  }
  return static_cast<int>((next_beat_ns_ - now + 999999) / 1000000);
}

void Agent::on_control_readable() {
  char buf[65536];
  ssize_t n = read(control_.get(), buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    // In the guest a virtio port reads EOF while the host side is not connected; wait for it.
    if (opts_.pid1) {
      usleep(10000);
      return;
    }
    control_closed_ = true;
    return;
  }
  lines_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
  while (auto item = lines_.next()) {
    if (auto* over = std::get_if<proto::Oversize>(&*item)) {
      reply_error(nullptr, proto::errc::kTooLarge,
                  "line of " + std::to_string(over->bytes) + " bytes exceeds " + std::to_string(proto::kMaxLineBytes));
      continue;
    }
    handle_line(std::get<std::string>(*item));
  }
}

void Agent::handle_line(const std::string& line) {
  if (line.empty()) return;
  json req = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded() || !req.is_object()) {
    reply_error(nullptr, proto::errc::kBadRequest, "not a JSON object");
    return;
  }
  try {
    handle_request(req);
  } catch (const json::exception& e) {
    reply_error(req.value("id", json()), proto::errc::kBadRequest, e.what());
  }
}

void Agent::handle_request(const json& req) {
  auto op_it = req.find("op");
  if (op_it == req.end() || !op_it->is_string()) {
    reply_error(req.value("id", json()), proto::errc::kBadRequest, "missing \"op\"");
    return;
  }
  const std::string op = *op_it;
  if (op == proto::op::kSync) {
    reply_ok(req, {{"token", req.at("token")}});
  } else if (op == proto::op::kHello) {
    int host_version = req.value("protocol", 0);
    if (host_version != proto::kVersion) {
      reply_error(req.value("id", json()), proto::errc::kVersionMismatch,
                  "agent speaks protocol " + std::to_string(proto::kVersion) + ", host " + std::to_string(host_version));
      return;
    }
    json facts = collect_kernel_facts();
    facts["protocol"] = proto::kVersion;
    facts["agent_pid"] = getpid();
    facts["monotonic_ns"] = monotonic_ns();
    heartbeat_ns_ = static_cast<std::uint64_t>(std::max<std::int64_t>(0, req.value("heartbeat_ms", 0LL))) * 1000000;
    next_beat_ns_ = monotonic_ns() + heartbeat_ns_;
    reply_ok(req, facts);
  } else if (op == proto::op::kPing) {
    // Like disarm: the kernel records so far go out first, so a ping is also a kmsg barrier.
    drain_kmsg();
    reply_ok(req, {{"monotonic_ns", monotonic_ns()}, {"kmsg_record", kmsg_last_record_}});
  } else if (op == proto::op::kExec) {
    handle_exec(req);
  } else if (op == proto::op::kSignal) {
    handle_signal(req);
  } else if (op == proto::op::kArm) {
    handle_arm(req);
  } else if (op == proto::op::kDisarm) {
    handle_disarm(req);
  } else if (op == proto::op::kKmsg) {
    handle_kmsg(req);
  } else if (op == proto::op::kSysrq) {
    handle_sysrq(req);
  } else if (op == proto::op::kRead) {
    handle_read(req);
  } else if (op == proto::op::kTraceEvents) {
    handle_trace_events(req);
  } else if (op == proto::op::kShutdown) {
    reply_ok(req);
    for (auto& [h, f] : faults_) f->disarm();
    for (auto& [ch, e] : execs_) kill(-e.pid, SIGKILL);
    shutting_down_ = true;
    if (opts_.pid1) end_vm();
  } else {
    reply_error(req.value("id", json()), proto::errc::kUnknownOp, "unknown op \"" + op + "\"");
  }
}

void Agent::handle_exec(const json& req) {
  json id = req.value("id", json());
  if (execs_.size() >= static_cast<std::size_t>(proto::kMaxOutstandingExecs)) {
    reply_error(id, proto::errc::kBusy, "too many running execs");
    return;
  }
  auto request = parse_exec_request(req);
  if (!request) {
    reply_error(id, request.error());
    return;
  }
  std::uint32_t ch = next_channel_++;
  auto spawned = spawn_step(*request, ch);
  if (!spawned) {
    reply_error(id, spawned.error());
    return;
  }
  auto& cgroup = spawned->cgroup;
  StepProcess step{ch, request->aim_self ? -1 : spawned->pid,
                   cgroup ? (request->aim_self ? cgroup->target_id() : cgroup->id()) : 0};
  if (request->stop_at_exec()) {
    if (auto s = set_up_step_at_exec(*request, spawned->pid, step); !s) {
      reply_error(id, s.error());
      return;
    }
  }
  fcntl(spawned->out.get(), F_SETFL, O_NONBLOCK);
  fcntl(spawned->err.get(), F_SETFL, O_NONBLOCK);
  Exec& e = execs_[ch];
  e.cgroup = std::move(cgroup);
  e.faults = std::move(request->aimed);
  e.step = step;
  e.request_id = id.is_number_integer() ? id.get<std::int64_t>() : 0;
  e.channel = ch;
  e.pid = spawned->pid;
  e.out = std::move(spawned->out);
  e.err = std::move(spawned->err);
  e.started_ns = monotonic_ns();
  e.fail_nth = request->fail_nth;
  reply_ok(req, {{"channel", ch}, {"pid", spawned->pid}});
}

AgentResult<Agent::ExecRequest> Agent::parse_exec_request(const json& req) const {
  ExecRequest r;
  const json& argv_j = req.at("argv");
  if (!argv_j.is_array() || argv_j.empty())
    return AgentError{proto::errc::kBadRequest, "\"argv\" must be a non-empty array of strings"};
  std::size_t total = 0;
  for (auto& a : argv_j) {
    r.argv.push_back(a.get<std::string>());
    total += r.argv.back().size();
  }
  r.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=dumb"};
  // Scenario disks by name: FAULTBOX_DISK_<NAME>=/dev/vdX or /dev/sdX, whatever the bus.
  for (auto& e : disk_env(sysfs_root())) r.env.push_back(e);
  if (auto it = req.find("env"); it != req.end()) {
    for (auto& [k, v] : it->items()) {
      r.env.push_back(k + "=" + v.get<std::string>());
      total += r.env.back().size();
    }
  }
  if (total > proto::kMaxExecArgBytes)
    return AgentError{proto::errc::kTooLarge,
                      "argv and env exceed " + std::to_string(proto::kMaxExecArgBytes) + " bytes"};
  r.cwd = req.value("cwd", std::string("/"));
  r.make_it_fail = req.value("make_it_fail", false);
  long long fail_nth = req.value("fail_nth", 0LL);
  if (fail_nth < 0 || fail_nth > 0x7fffffff)
    return AgentError{proto::errc::kBadRequest, "\"fail_nth\" must be 0..2147483647"};
  r.fail_nth = static_cast<unsigned>(fail_nth);
  if (auto it = req.find("faults"); it != req.end()) {
    for (auto& h : *it) {
      int handle = h.get<int>();
      if (!faults_.count(handle))
        return AgentError{proto::errc::kNoSuchFault, "no armed fault " + std::to_string(handle)};
      r.aimed.push_back(handle);
    }
  }
  r.aim_self = req.value("aim_self", false);
  r.ftrace_pid = req.value("ftrace_pid", std::string());
  return r;
}

AgentResult<Agent::SpawnedStep> Agent::spawn_step(const ExecRequest& r, std::uint32_t channel) {
  SpawnedStep step;
  if (!opts_.step_cgroup_root.empty()) {
    auto cg = StepCgroup::create(opts_.step_cgroup_root, channel);
    // Without cgroup v2 the step still runs; BPF faults then fall back to its pid.
    if (cg) step.cgroup = std::move(*cg);
    else fprintf(stderr, "faultbox-agent: no step cgroup: %s\n", cg.error().message.c_str());
  }
  int cgroup_procs = step.cgroup ? step.cgroup->procs_fd() : -1;
  std::vector<std::string> argv = r.argv, env = r.env;
  if (step.cgroup) env.push_back("FAULTBOX_CGROUP=" + step.cgroup->path());

  int out[2], err[2], status_pipe[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 || pipe2(status_pipe, O_CLOEXEC) != 0)
    return AgentError{proto::errc::kExecFailed, std::string("pipe: ") + strerror(errno)};
  std::vector<char*> cargv, cenv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  for (auto& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  // execvp's search, done by hand: execvp would read the agent's own environ (as PID 1 the
  // kernel gives it no PATH) and setting environ in a vfork child would change the agent's.
  std::vector<std::string> program = program_candidates(argv[0], env);
  // A file without a #! line is run by /bin/sh, as execvp does (slot 1 takes the candidate).
  std::vector<char*> sh_argv = {const_cast<char*>("/bin/sh"), nullptr};
  for (std::size_t i = 1; i < argv.size(); ++i) sh_argv.push_back(argv[i].data());
  sh_argv.push_back(nullptr);
  StepChild child{cargv.data(), cenv.data(), sh_argv.data(), &program, r.cwd.c_str(),
                  out[1],       err[1],      status_pipe[1], cgroup_procs,     r.stop_at_exec()};

  // vfork, not fork: under TCG, copying the agent's page tables and then taking copy-on-write
  // faults until exec cost most of an `exec true` round trip (docs/benchmarks.md). The agent
  // is single-threaded and waits here until the child has exec'd or exited.
  pid_t pid = vfork();
  if (pid == 0) become_step(child);
  if (step.cgroup) step.cgroup->close_procs();
  close(out[1]);
  close(err[1]);
  close(status_pipe[1]);
  step.out.reset(out[0]);
  step.err.reset(err[0]);
  Fd st_r(status_pipe[0]);
  if (pid < 0) return AgentError{proto::errc::kExecFailed, std::string("vfork: ") + strerror(errno)};
  int child_failure[2] = {0, 0};  // stage, errno
  ssize_t n;
  do {
    n = read(st_r.get(), child_failure, sizeof child_failure);
  } while (n < 0 && errno == EINTR);
  if (n == sizeof child_failure) {
    int st;
    waitpid(pid, &st, 0);
    std::string what = child_failure[0] == kChildStageCgroup ? "joining " + step.cgroup->path() : argv[0];
    return AgentError{proto::errc::kExecFailed, what + ": " + strerror(child_failure[1])};
  }
  step.pid = pid;
  return step;
}

AgentStatus Agent::set_up_step_at_exec(const ExecRequest& r, pid_t pid, const StepProcess& step) {
  int st = 0;
  Status ready;
  std::size_t started = 0;
  if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st)) {
    ready = Error{ErrorKind::Infra, "child did not stop at exec"};
  } else {
    if (r.make_it_fail) ready = write_proc_knob(pid, "make-it-fail", "1");
    if (r.fail_nth > 0 && ready) {
      count_sleeping_allocations_for_fail_nth();
      ready = write_proc_knob(pid, "fail-nth", std::to_string(r.fail_nth));
    }
    for (; ready && started < r.aimed.size(); ++started) ready = faults_[r.aimed[started]]->on_step_start(step);
    // Last, so nothing the agent does for the step is traced: from here on only the step runs.
    if (!r.ftrace_pid.empty() && ready) ready = write_text(r.ftrace_pid + "/set_ftrace_pid", std::to_string(pid));
    if (!r.ftrace_pid.empty() && ready) ready = write_text(r.ftrace_pid + "/tracing_on", "1");
  }
  ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
  if (ready) return {};
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  for (std::size_t i = 0; i < started; ++i) faults_[r.aimed[i]]->on_step_end(step);
  return AgentError{proto::errc::kExecFailed, ready.error().message};
}

void Agent::handle_arm(const json& req) {
  auto fault = arm_fault(req.at("fault"));
  if (!fault) {
    reply_error(req.value("id", json()), fault.error());
    return;
  }
  int h = next_fault_++;
  bool mark = (*fault)->needs_task_mark();
  json info = (*fault)->info();
  faults_[h] = std::move(*fault);
  reply_ok(req, {{"handle", h}, {"needs_task_mark", mark}, {"info", info}});
}

void Agent::handle_disarm(const json& req) {
  int h = req.at("handle").get<int>();
  auto it = faults_.find(h);
  if (it == faults_.end()) {
    reply_error(req.value("id", json()), proto::errc::kNoSuchFault, "no armed fault " + std::to_string(h));
    return;
  }
  it->second->disarm();
  json c = it->second->counters();
  faults_.erase(it);
  // Everything the kernel logged while the fault was armed is sent before this reply; its
  // record number lets the host wait for those frames (they travel on the other port).
  drain_kmsg();
  reply_ok(req, {{"counters", c}, {"kmsg_record", kmsg_last_record_}});
}

void Agent::handle_sysrq(const json& req) {
  std::string keys = req.at("keys").get<std::string>();
  std::string path = req.value("path", std::string("/proc/sysrq-trigger"));
  for (char k : keys) {
    Fd f(open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!f || write(f.get(), &k, 1) != 1) {
      reply_error(req.value("id", json()), proto::errc::kNotAvailable, "write " + path + ": " + strerror(errno));
      return;
    }
  }
  // What the kernel printed goes out before the reply, like disarm's records.
  drain_kmsg();
  reply_ok(req, {{"kmsg_record", kmsg_last_record_}});
}

void Agent::handle_read(const json& req) {
  json files = json::object();
  for (auto& p : req.at("paths")) {
    std::string path = p.get<std::string>();
    Fd f(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!f) {
      files[path] = {{"error", strerror(errno)}};
      continue;
    }
    // proc and sysfs files report size 0: read until EOF, up to the cap.
    std::string text;
    char buf[16384];
    ssize_t n;
    while (text.size() < proto::kMaxReadBytes && (n = read(f.get(), buf, sizeof buf)) > 0)
      text.append(buf, static_cast<std::size_t>(std::min<std::size_t>(static_cast<std::size_t>(n), proto::kMaxReadBytes - text.size())));
    if (n < 0 && text.empty()) files[path] = {{"error", strerror(errno)}};
    else files[path] = {{"text", text}, {"truncated", text.size() >= proto::kMaxReadBytes}};
  }
  reply_ok(req, {{"files", files}});
}

void Agent::handle_kmsg(const json& req) {
  if (!kmsg_) {
    // From the first record still in the buffer, so boot messages are in the report too.
    kmsg_.reset(open(req.value("path", std::string("/dev/kmsg")).c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!kmsg_) {
      reply_error(req.value("id", json()), proto::errc::kNotAvailable, std::string("open /dev/kmsg: ") + strerror(errno));
      return;
    }
  }
  reply_ok(req, {{"channel", proto::kKmsgChannel}});
  pump_kmsg();
}

void Agent::handle_trace_events(const json& req) {
  json id = req.value("id", json());
  std::string tracefs = req.value("tracefs", std::string("/sys/kernel/tracing"));
  // A private instance: its own buffer and event switches, nothing left on in the top-level
  // tracer, and the faults' own counting instances stay apart.
  std::string inst = tracefs + "/instances/faultbox";
  if (mkdir(inst.c_str(), 0700) != 0 && errno != EEXIST) {
    reply_error(id, proto::errc::kNotAvailable, "mkdir " + inst + ": " + strerror(errno));
    return;
  }
  auto write_file = [](const std::string& path, const std::string& value) {
    Fd f(open(path.c_str(), O_WRONLY | O_CLOEXEC));
    return f && write(f.get(), value.data(), value.size()) == static_cast<ssize_t>(value.size());
  };
  // CLOCK_MONOTONIC, the clock of the agent's own timestamps.
  write_file(inst + "/trace_clock", "mono");
  json enabled = json::array();
  for (auto& e : req.at("events")) {
    std::string name = e.get<std::string>();
    auto colon = name.find(':');
    if (colon == std::string::npos || name.find('/') != std::string::npos) {
      reply_error(id, proto::errc::kBadRequest, "event '" + name + "' is not SUBSYSTEM:EVENT");
      return;
    }
    std::string path = inst + "/events/" + name.substr(0, colon) + "/" + name.substr(colon + 1) + "/enable";
    if (!write_file(path, "1")) {
      reply_error(id, proto::errc::kNotAvailable,
                  "tracefs event " + name + " cannot be enabled (" + path + ": " + strerror(errno) + ")");
      return;
    }
    enabled.push_back(name);
  }
  if (!trace_pipe_) trace_pipe_.reset(open((inst + "/trace_pipe").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!trace_pipe_) {
    reply_error(id, proto::errc::kNotAvailable, "open " + inst + "/trace_pipe: " + strerror(errno));
    return;
  }
  reply_ok(req, {{"channel", proto::kTraceEventsChannel}, {"events", enabled}});
}

int Agent::pump_trace_events() {
  static char buf[proto::kMaxFramePayload];
  static Exec trace_exec;  // only its channel and seq matter for framing
  trace_exec.channel = proto::kTraceEventsChannel;
  trace_exec.seq = trace_seq_;
  int sent = 0;
  // Bounded per call, like the kernel log, so an event flood cannot starve requests.
  for (int i = 0; i < 16; ++i) {
    ssize_t n = read(trace_pipe_.get(), buf, sizeof buf);
    if (n <= 0) break;
    sent += static_cast<int>(n);
    send_frame(trace_exec, proto::Stream::Trace, buf, static_cast<std::size_t>(n));
  }
  trace_seq_ = trace_exec.seq;
  return sent;
}

void Agent::drain_kmsg() {
  if (kmsg_)
    while (pump_kmsg() > 0) {
    }
}

int Agent::pump_kmsg() {
  // One read returns one record; EAGAIN: caught up; EPIPE: records were overwritten (the
  // next read continues with the oldest one left).
  static char rec[8192];
  static Exec kmsg_exec;  // only its channel and seq matter for framing
  kmsg_exec.channel = proto::kKmsgChannel;
  kmsg_exec.seq = kmsg_seq_;
  int sent = 0;
  // At most 256 records per call, so a flood of kernel messages cannot starve requests.
  for (int i = 0; i < 256; ++i) {
    ssize_t n = read(kmsg_.get(), rec, sizeof rec);
    if (n < 0 && errno == EPIPE) continue;
    if (n <= 0) break;
    ++sent;
    // "prio,seq,usec,flags;text": the record's sequence number is the second field
    if (const char* comma = static_cast<const char*>(memchr(rec, ',', static_cast<std::size_t>(n))))
      kmsg_last_record_ = strtoll(comma + 1, nullptr, 10);
    send_frame(kmsg_exec, proto::Stream::Kmsg, rec, static_cast<std::size_t>(n));
  }
  kmsg_seq_ = kmsg_exec.seq;
  return sent;
}

void Agent::handle_signal(const json& req) {
  std::uint32_t ch = req.at("channel").get<std::uint32_t>();
  int sig = req.value("signal", SIGTERM);
  auto it = execs_.find(ch);
  if (it == execs_.end()) {
    reply_error(req.value("id", json()), proto::errc::kNoSuchChannel, "no running exec on channel " + std::to_string(ch));
    return;
  }
  kill(-it->second.pid, sig);
  reply_ok(req);
}

bool Agent::pump(Exec& e, Fd& fd, proto::Stream stream, bool until_empty) {
  static char buf[proto::kMaxFramePayload];
  do {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN;  // EAGAIN: nothing more for now
    }
    if (n == 0) return false;
    send_frame(e, stream, buf, static_cast<std::size_t>(n));
  } while (until_empty);
  return true;
}

void Agent::send_frame(Exec& e, proto::Stream stream, const char* data, std::size_t len) {
  char header[proto::kFrameHeaderBytes];
  proto::encode_frame_header(stream, 0, e.channel, e.seq++, monotonic_ns(), static_cast<std::uint32_t>(len), header);
  // Header and payload in one writev-like pass: two writes keep the code simple and the
  // port sees them back to back because this loop is the only writer.
  if (!write_all(trace_.get(), header, sizeof header) || !write_all(trace_.get(), data, len)) control_closed_ = true;
}

void Agent::reap_children() {
  signalfd_siginfo si;
  while (read(sigchld_.get(), &si, sizeof si) == sizeof si) {
  }
  // fail-nth is read back from the zombie before it is reaped: 0 means the Nth site was reached
  // and failed, anything else is how many sites short the process ended.
  for (auto& [ch, e] : execs_) {
    if (e.reaped || e.fail_nth == 0) continue;
    siginfo_t info{};
    if (waitid(P_PID, static_cast<id_t>(e.pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != e.pid) continue;
    std::ifstream f("/proc/" + std::to_string(e.pid) + "/fail-nth");
    long long left = -1;
    if (f >> left) e.fail_nth_left = left;
  }
  for (;;) {
    int st;
    pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid <= 0) break;
    for (auto& [ch, e] : execs_) {
      if (e.pid == pid) {
        e.reaped = true;
        e.wait_status = st;
        // The process is gone: what it wrote is in the pipes now. Drain them and stop
        // reading, so a daemonised grandchild holding the pipe cannot delay the exit event.
        if (e.out && !pump(e, e.out, proto::Stream::Stdout, true)) e.out.reset();
        if (e.err && !pump(e, e.err, proto::Stream::Stderr, true)) e.err.reset();
        e.out.reset();
        e.err.reset();
      }
    }
  }
  remove_leftover_step_cgroups();
}

void Agent::finish(Exec& e) {
  for (int h : e.faults)
    if (auto it = faults_.find(h); it != faults_.end()) it->second->on_step_end(e.step);
  json ev = {{"event", proto::event::kExit},
             {"id", e.request_id},
             {"channel", e.channel},
             {"frames", e.seq},
             {"duration_ns", monotonic_ns() - e.started_ns}};
  if (WIFEXITED(e.wait_status)) {
    ev["code"] = WEXITSTATUS(e.wait_status);
    ev["signal"] = 0;
  } else {
    ev["code"] = nullptr;
    ev["signal"] = WTERMSIG(e.wait_status);
  }
  if (e.fail_nth > 0) {
    ev["fail_nth"] = e.fail_nth;
    ev["fail_nth_left"] = e.fail_nth_left;
  }
  send_json(ev);
}

}  // namespace fb::agent
