#pragma once
// Each subcommand registers its options on the CLI11 app and returns the function that runs it.
#include <CLI/CLI.hpp>

#include <functional>

namespace fb::cli {

using Runner = std::function<int()>;

Runner add_exec(CLI::App& app);
Runner add_kernel(CLI::App& app);
Runner add_image(CLI::App& app);
Runner add_doctor(CLI::App& app);
Runner add_triage(CLI::App& app);
Runner add_check(CLI::App& app);
Runner add_run(CLI::App& app);
Runner add_list_faults(CLI::App& app);

}  // namespace fb::cli
