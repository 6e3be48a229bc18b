#pragma once
// The VM options every booting subcommand accepts.
#include "orchestrator/vm/session.h"

#include <CLI/CLI.hpp>

namespace fb::cli {

void add_session_options(CLI::App& cmd, SessionOptions& o);
// --backend and --connect (also on `run`, where the scenario's [vm] gives the defaults).
void add_backend_options(CLI::App& cmd, std::string& backend, std::string& connect);
// The same for `run`, where --connect may be given once per host to spread a batch over.
void add_backend_options(CLI::App& cmd, std::string& backend, std::vector<std::string>& connects);

}  // namespace fb::cli
