// faultbox check SCENARIO...: validate scenario files without booting anything.
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/core/log.h"
#include "orchestrator/disks/disk_image.h"
#include "orchestrator/engine/plan.h"
#include "orchestrator/core/scenario.h"

#include <algorithm>
#include <cstdio>

namespace fb::cli {

CommandMain add_check(CLI::App& app) {
  auto files = std::make_shared<std::vector<std::string>>();
  auto schema = std::make_shared<bool>(false);
  auto fault = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("check", "Validate scenario files (TOML) without booting; errors name file:line:column");
  cmd->add_option("scenario", *files, "scenario files")->expected(-1);
  cmd->add_flag("--schema", *schema, "print every key of every section as Markdown tables (docs/scenarios.md)");
  cmd->add_option("--fault", *fault, "print the keys of this one fault type (a Markdown table of --schema)");
  return [files, schema, fault]() -> int {
    if (!fault->empty()) {
      // Its table out of the whole schema: from its section marker to the next one.
      std::string all = schema_markdown(), marker = "<!-- section: fault." + *fault + " -->";
      auto from = all.find(marker);
      if (from == std::string::npos) {
        std::string known;
        for (auto& t : fault_types()) known += (known.empty() ? "" : ", ") + t;
        log_line(Verbosity::Quiet, fmt::format("check: --fault {}: no such fault type (known: {})", *fault, known));
        return exit_code::kUsage;
      }
      auto to = all.find("<!-- section:", from + marker.size());
      fputs(all.substr(from, to == std::string::npos ? to : to - from).c_str(), stdout);
      return 0;
    }
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
        rc = std::max(rc, exit_code::kUsage);
        continue;
      }
      // The plan pass `run` makes before it boots, and the disk checks it makes before it starts
      // an appliance: whatever run would refuse before booting is refused here, in its words.
      auto plan = plan_scenario(*sc);
      Status disks = plan ? check_disks(sc->disks) : Status(plan.error());
      if (!disks) {
        log_line(Verbosity::Quiet, disks.error().message);
        rc = std::max(rc, exit_code::from_error(disks.error()));
        continue;
      }
      printf("%s: ok: \"%s\", %zu step(s), %zu fault(s), %zu disk(s)\n", f.c_str(), sc->name.c_str(),
             sc->steps.size(), sc->faults.size(), sc->disks.size());
    }
    return rc;
  };
}

}  // namespace fb::cli
