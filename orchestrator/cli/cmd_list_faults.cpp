// faultbox list-faults: boot the kernel once and print what it offers for fault injection: the
// fault interfaces present and the functions in its error-injection list, with their types.
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/cli/session_options.h"
#include "orchestrator/core/log.h"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace fb::cli {

namespace {

struct ListFaultsOptions {
  SessionOptions session;
  bool json = false;
};

int run_list_faults(const ListFaultsOptions& o) {
  auto session = Session::boot(o.session);
  if (!session) {
    log_line(Verbosity::Quiet, session.error().message);
    return exit_code::from_error(session.error());
  }
  const AgentHello& h = (*session)->hello();
  (void)(*session)->shutdown();
  if (o.json) {
    nlohmann::json j = {{"kernel_release", h.kernel_release}, {"kernel", (*session)->kernel().string()},
                        {"faults", h.faults}, {"injectable", nlohmann::json::array()}};
    for (auto& [fn, type] : h.injectable) j["injectable"].push_back({{"function", fn}, {"type", type}});
    printf("%s\n", j.dump(2).c_str());
    return exit_code::kPass;
  }
  printf("kernel %s (%s)\n", h.kernel_release.c_str(), (*session)->kernel().c_str());
  printf("fault interfaces (%zu):\n", h.faults.size());
  for (auto& f : h.faults) printf("  %s\n", f.c_str());
  // ERRNO: returns a negative errno; TRUE/FALSE: a bool; NULL: a pointer; ERRNO_NULL: either.
  printf("injectable functions (%zu), for fail_function and bpf_override:\n", h.injectable.size());
  std::size_t width = 0;
  for (auto& [fn, type] : h.injectable) width = std::max(width, fn.size());
  for (auto& [fn, type] : h.injectable) printf("  %-*s %s\n", static_cast<int>(width), fn.c_str(), type.c_str());
  return exit_code::kPass;
}

}  // namespace

CommandMain add_list_faults(CLI::App& app) {
  auto o = std::make_shared<ListFaultsOptions>();
  auto* cmd = app.add_subcommand("list-faults", "Boot the kernel once and list its fault interfaces and injectable functions");
  add_session_options(*cmd, o->session);
  cmd->add_flag("--json", o->json, "print one JSON object");
  return [o] { return run_list_faults(*o); };
}

}  // namespace fb::cli
