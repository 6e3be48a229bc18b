#pragma once
// Progress lines on stderr, one per stage, prefixed "faultbox: ", control bytes shown as \xNN
// (orchestrator/core/printable.h). stdout stays the guest's.
#include <fmt/core.h>

namespace fb {

enum class Verbosity { Quiet = 0, Normal = 1, Verbose = 2 };
void set_verbosity(Verbosity v);
Verbosity verbosity();

void log_line(Verbosity level, const std::string& text);

template <class... Args>
void progress(fmt::format_string<Args...> f, Args&&... args) {
  log_line(Verbosity::Normal, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  log_line(Verbosity::Verbose, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace fb
