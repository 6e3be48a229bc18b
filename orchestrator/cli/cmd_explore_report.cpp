// faultbox explore-report EXPLORE_JSON [-o PAGE]: render the HTML page of an explore report again,
// from its explore.json alone (no VM, no kernel): after an interrupted explore, or to view an
// explore.json copied from another machine next to its runs/ evidence.
#include "common/files.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/core/log.h"
#include "orchestrator/core/printable.h"
#include "orchestrator/explore/explore_html.h"

#include <nlohmann/json.hpp>

#include <filesystem>

namespace fb::cli {

namespace {

constexpr std::size_t kMaxReportBytes = 256u << 20;  // thousands of runs are a few MiB
constexpr const char* kFormat = "faultbox-explore/1";

// "line:col" of a byte offset, for a parse error a person can find in an editor.
std::string line_col(const std::string& text, std::size_t byte) {
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return fmt::format("{}:{}", line, col);
}

Result<nlohmann::json> load_report(const std::string& path) {
  auto text = read_regular_file(path, kMaxReportBytes, "an explore.json file");
  if (!text) return text.error();
  nlohmann::json report;
  try {
    report = nlohmann::json::parse(*text);
  } catch (const nlohmann::json::parse_error& e) {
    // nlohmann's message repeats the position; the byte offset is made a line:col instead.
    std::string what = e.what();
    if (auto p = what.find("syntax error while parsing value - "); p != std::string::npos) what = what.substr(p + 35);
    else if (auto q = what.find(": "); q != std::string::npos) what = what.substr(q + 2);
    std::size_t at = e.byte > 0 ? e.byte - 1 : 0;
    return make_error(ErrorKind::Usage, "{}:{}: not JSON: {}", path, line_col(*text, at), printable(what, 200));
  }
  if (!report.is_object() || !report.contains("format") || report["format"] != kFormat) {
    std::string found = report.is_object() && report.contains("format") && report["format"].is_string()
                            ? report["format"].get<std::string>()
                            : std::string("none");
    return make_error(ErrorKind::Usage, "{}: not a faultbox explore report (format {}, expected {})", path,
                      printable(found, 80), kFormat);
  }
  return report;
}

}  // namespace

CommandMain add_explore_report(CLI::App& app) {
  struct Options {
    std::string report;
    std::string output;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("explore-report", "Render the HTML page of an explore report from its explore.json");
  cmd->add_option("explore_json", o->report, "the explore.json that `faultbox explore` wrote")->required();
  cmd->add_option("-o,--output", o->output, "where to write the page (default: report.html beside explore.json)");
  cmd->footer(
      "The page is self-contained (no network); its evidence links are relative to the explore.json's directory, so "
      "keep it there or pass -o into that directory.\nExit status: 0 when the page was written; 2 when the report cannot "
      "be read, is not JSON or not an explore report, or the output's directory does not exist; 5 when the page cannot be written.");
  return [o]() -> int {
    auto report = load_report(o->report);
    if (!report) {
      log_line(Verbosity::Quiet, report.error().message);
      return exit_code::from_error(report.error());
    }
    std::filesystem::path out =
        o->output.empty() ? std::filesystem::path(o->report).parent_path() / "report.html" : std::filesystem::path(o->output);
    if (auto dir = out.parent_path(); !dir.empty() && !std::filesystem::is_directory(dir)) {
      log_line(Verbosity::Quiet, fmt::format("cannot write the report page {}: {} is not a directory", out.string(), dir.string()));
      return exit_code::kUsage;
    }
    std::string page = render_explore_html(*report);
    if (auto st = write_file_atomic(out, page); !st) {
      log_line(Verbosity::Quiet, "cannot write the report page " + st.error().message);
      return exit_code::kInfra;
    }
    progress("explore report: {} ({} runs)", out.string(),
             (*report).contains("runs") && (*report)["runs"].is_array() ? (*report)["runs"].size() : 0);
    return exit_code::kPass;
  };
}

}  // namespace fb::cli
