#pragma once
// Elapsed wall time as the reports and progress lines show it.
#include <chrono>

namespace fb {

// Seconds from t0 to now on the monotonic clock.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace fb
