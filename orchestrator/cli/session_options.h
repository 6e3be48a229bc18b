#pragma once
// The VM options every booting subcommand accepts.
#include "orchestrator/vm/session.h"

#include <CLI/CLI.hpp>

namespace fb::cli {

void add_session_options(CLI::App& cmd, SessionOptions& o);

}  // namespace fb::cli
