#include "orchestrator/engine/verdict.h"

namespace fb {

std::optional<Verdict> verdict_named(std::string_view name) {
  for (auto& r : kVerdicts)
    if (name == r.name) return r.verdict;
  return std::nullopt;
}

}  // namespace fb
