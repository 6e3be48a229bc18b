#pragma once
// Each subcommand registers its options on the CLI11 app and returns the function that runs it.
#include <CLI/CLI.hpp>

#include <functional>

namespace fb::cli {

using CommandMain = std::function<int()>;

CommandMain add_exec(CLI::App& app);
CommandMain add_kernel(CLI::App& app);
CommandMain add_image(CLI::App& app);
CommandMain add_doctor(CLI::App& app);
CommandMain add_triage(CLI::App& app);
CommandMain add_check(CLI::App& app);
CommandMain add_run(CLI::App& app);
CommandMain add_explore(CLI::App& app);
CommandMain add_bisect(CLI::App& app);
CommandMain add_list_faults(CLI::App& app);
CommandMain add_explore_report(CLI::App& app);
CommandMain add_complete(CLI::App& app);  // hidden: for shell completion

}  // namespace fb::cli
