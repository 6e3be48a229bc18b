#include "orchestrator/core/log.h"

#include <cstdio>
#include <string>

namespace fb {

static Verbosity g_verbosity = Verbosity::Normal;

void set_verbosity(Verbosity v) { g_verbosity = v; }
Verbosity verbosity() { return g_verbosity; }

void log_line(Verbosity level, const std::string& text) {
  if (static_cast<int>(level) > static_cast<int>(g_verbosity)) return;
  std::string line = "faultbox: " + text + "\n";
  fputs(line.c_str(), stderr);
}

}  // namespace fb
