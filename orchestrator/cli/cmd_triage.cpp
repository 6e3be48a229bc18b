// faultbox triage CONSOLE_LOG: name the first kernel crash in a saved serial-console log.
#include "common/files.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/core/crash_report.h"
#include "orchestrator/core/log.h"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace fb::cli {

namespace {

nlohmann::json to_json(const ConsoleScan& scan) {
  nlohmann::json j;
  j["crashed"] = scan.crash.has_value();
  j["kind"] = nullptr;
  j["title"] = nullptr;
  j["guilty_frame"] = nullptr;
  j["corrupted"] = nullptr;
  j["alt_titles"] = nullptr;
  j["report"] = nullptr;
  if (const auto& c = scan.crash) {
    j["kind"] = to_string(c->kind);
    j["title"] = c->title;
    if (!c->guilty_frame.empty()) j["guilty_frame"] = c->guilty_frame;
    j["corrupted"] = c->corrupted;
    j["alt_titles"] = c->alt_titles;
    j["report"] = c->report;
    j["report_lines"] = {{"first", c->first_line}, {"last", c->last_line}};
  }
  j["events"] = nlohmann::json::array();
  for (const auto& e : scan.events)
    j["events"].push_back({{"kind", to_string(e.kind)}, {"text", e.text}, {"line", e.line}});
  j["events_dropped"] = scan.events_dropped;
  return j;
}

}  // namespace

CommandMain add_triage(CLI::App& app) {
  struct Options {
    std::string console_log;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("triage", "Find the first kernel crash in a serial-console log and title it");
  cmd->add_option("console_log", o->console_log, "the console log (e.g. saved from `faultbox exec --console`)")
      ->required();
  cmd->add_flag("--json", o->json, "print one JSON object: crashed, kind, title, guilty_frame, corrupted, alt_titles, report, events");
  cmd->footer("Exit status: 0 when the log was read, whatever it holds; 2 when it cannot be read.");
  return [o]() -> int {
    auto text = read_file(o->console_log);
    if (!text) {
      // Whatever stopped the read, the fix is the path the user gave.
      log_line(Verbosity::Quiet, "cannot read console log " + text.error().message);
      return exit_code::kUsage;
    }
    ConsoleScan scan = scan_console(*text);
    if (o->json) {
      // The report holds raw console bytes: replace invalid UTF-8 rather than throw.
      std::string out = to_json(scan).dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
      printf("%s\n", out.c_str());
      return exit_code::kPass;
    }
    if (scan.crash) {
      printf("crashed: %s: %s%s\n", to_string(scan.crash->kind), scan.crash->title.c_str(),
             scan.crash->corrupted ? " (corrupted report)" : "");
      for (const auto& alt : scan.crash->alt_titles) printf("also known as: %s\n", alt.c_str());
    } else
      printf("no crash found\n");
    for (const auto& e : scan.events) printf("event: %s: %s\n", to_string(e.kind), e.text.c_str());
    if (scan.events_dropped) printf("event: %zu more not shown\n", scan.events_dropped);
    return exit_code::kPass;
  };
}

}  // namespace fb::cli
