#include "orchestrator/core/log.h"

#include "orchestrator/core/printable.h"

#include <cstdio>
#include <string>

namespace fb {

static Verbosity g_verbosity = Verbosity::Normal;

void set_verbosity(Verbosity v) { g_verbosity = v; }
Verbosity verbosity() { return g_verbosity; }

void log_line(Verbosity level, const std::string& text) {
  if (static_cast<int>(level) > static_cast<int>(g_verbosity)) return;
  // Errors and --follow lines carry guest text (console tails, kernel log records): escaped.
  std::string line = "faultbox: " + printable(text, std::string::npos, TextLayout::Lines) + "\n";
  fputs(line.c_str(), stderr);
}

}  // namespace fb
