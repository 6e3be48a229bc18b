// faultbox check SCENARIO...: validate scenario files without booting anything.
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/core/log.h"
#include "orchestrator/core/error_injection.h"
#include "orchestrator/core/scenario.h"
#include "orchestrator/vm/session.h"

#include <cstdio>

namespace fb::cli {

Runner add_check(CLI::App& app) {
  auto files = std::make_shared<std::vector<std::string>>();
  auto schema = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("check", "Validate scenario files (TOML) without booting; errors name file:line:column");
  cmd->add_option("scenario", *files, "scenario files")->expected(-1);
  cmd->add_flag("--schema", *schema, "print every key of every section as Markdown tables (docs/scenarios.md)");
  return [files, schema]() -> int {
    if (*schema) {
      fputs(schema_markdown().c_str(), stdout);
      return 0;
    }
    if (files->empty()) {
      log_line(Verbosity::Quiet, "check: no scenario file given");
      return exit_code::kUsage;
    }
    int rc = 0;
    for (auto& f : *files) {
      auto sc = load_scenario(f);
      if (!sc) {
        log_line(Verbosity::Quiet, sc.error().message);
        rc = exit_code::kUsage;
        continue;
      }
      // Functions to fail are checked against the kernel run would boot, when its list is known.
      if (auto kernel = find_kernel(sc->vm.kernel); kernel && *kernel)
        if (auto list = cached_error_injection_list(**kernel))
          if (auto e = find_uninjectable_fault(*sc, *list)) {
            log_line(Verbosity::Quiet, e->message);
            rc = exit_code::kUsage;
            continue;
          }
      printf("%s: ok: \"%s\", %zu step(s), %zu fault(s), %zu disk(s)\n", f.c_str(), sc->name.c_str(),
             sc->steps.size(), sc->faults.size(), sc->disks.size());
    }
    return rc;
  };
}

}  // namespace fb::cli
