#pragma once
// What the running kernel offers for fault injection, as reported in the hello reply.
#include <nlohmann/json.hpp>

namespace fb::agent {

// {"kernel_release", "faults": [...], "injectable": [{"function","type"}], ...}
nlohmann::json collect_kernel_facts();

}  // namespace fb::agent
