// faultbox exec: boot a throw-away VM, run one command in it with its output streamed live,
// exit with the command's status.
#include "common/fd.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/cli/session_options.h"
#include "orchestrator/vm/diagnosis.h"
#include "orchestrator/core/log.h"

#include <cerrno>
#include <csignal>
#include <unistd.h>

namespace fb::cli {

namespace {

struct ExecOptions {
  SessionOptions session;
  std::vector<std::string> command;
  std::vector<std::string> env;
  std::string cwd = "/";
  double timeout_s = 0;
  bool stats = false;
};

int fail(const Error& e) {
  log_line(Verbosity::Quiet, e.message);
  return exit_code::from_error(e);
}

int run_exec(const ExecOptions& o) {
  auto session = Session::boot(o.session);
  if (!session) return fail(session.error());
  ExecRequest req;
  req.argv = o.command;
  req.cwd = o.cwd;
  req.timeout = std::chrono::milliseconds(static_cast<long>(o.timeout_s * 1000));
  for (auto& kv : o.env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return fail(make_error(ErrorKind::Usage, "--env '{}' is not NAME=VALUE", kv));
    req.env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  // Output goes out as it arrives. A stdout closed under us (| head) ends the command, as SIGPIPE
  // ends a local one; a closed stderr only stops the copying.
  bool out_open = true, err_open = true, stdout_broken = false;
  auto sink = [&](proto::Stream s, std::string_view d) {
    bool& open = s == proto::Stream::Stderr ? err_open : out_open;
    if (open && !write_all(s == proto::Stream::Stderr ? 2 : 1, d.data(), d.size())) {
      open = false;
      stdout_broken = s == proto::Stream::Stdout && errno == EPIPE;
    }
  };
  req.abandon = [&] { return stdout_broken; };
  auto r = (*session)->agent().exec(req, sink);
  if (r && r->abandoned) {
    debug("exec: stdout closed (EPIPE): {} killed, VM torn down", o.command[0]);
    return 128 + SIGPIPE;  // the session's destructor kills the VM: nothing in it is wanted any more
  }
  if (!r && r.error().kind == ErrorKind::Boot) {
    // The VM died under the command: if the console holds a crash report, that is the answer.
    if (auto crash = diagnose_vm_end((*session)->vm(), (*session)->timeouts())) {
      log_line(Verbosity::Quiet, fmt::format("kernel crash while running {}: {}", o.command[0], crash->title));
      log_line(Verbosity::Normal, "crash report:\n" + crash->report);
      return exit_code::kKernelCrash;
    }
  }
  if (!r) {
    auto e = r.error();
    if (e.kind == ErrorKind::Timeout) e.message = fmt::format("command timed out after {} s; killed", o.timeout_s);
    return fail(e);
  }
  if (o.stats)
    progress("exec: {} frames, {} stdout bytes, {} stderr bytes, {} seq gaps, {:.3f} s in the guest", r->frames,
             r->stdout_bytes, r->stderr_bytes, r->seq_gaps,
             std::chrono::duration<double>(r->guest_duration).count());
  if (r->seq_gaps)
    return fail(make_error(ErrorKind::Protocol, "output stream lost or reordered {} frame(s)", r->seq_gaps));
  auto st = (*session)->shutdown();
  if (!st) debug("shutdown: {}", st.error().message);
  return r->status.shell_code();
}

}  // namespace

CommandMain add_exec(CLI::App& app) {
  auto o = std::make_shared<ExecOptions>();
  auto* cmd = app.add_subcommand("exec", "Boot a throw-away VM and run one command in it, output streamed live");
  cmd->footer(
      "Exit status: the command's own (128+N when killed by signal N); faultbox's own failures\n"
      "print a 'faultbox:' line and use 2 (usage), 4 (timeout), 5 (infrastructure), 6 (boot).\n"
      "Example: faultbox exec -- sh -c 'zcat /proc/config.gz | grep FAULT_INJECTION'");
  add_session_options(*cmd, o->session);
  cmd->add_option("--env", o->env, "NAME=VALUE for the command (repeatable)")
      ->allow_extra_args(false);  // one value per occurrence: a later "--" still starts the command
  cmd->add_option("--cwd", o->cwd, "working directory in the guest");
  cmd->add_option("--timeout", o->timeout_s, "kill the command after this many seconds (0: never)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--stats", o->stats, "print frame and byte counts of the output stream");
  cmd->add_option("command", o->command, "the command and its arguments, after --")->required()->expected(-1);
  return [o] { return run_exec(*o); };
}

}  // namespace fb::cli
