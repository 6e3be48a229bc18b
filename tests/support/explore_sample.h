#pragma once
// An explore report (explore.json, format faultbox-explore/1) with the shape `faultbox explore
// -- mkdir /tmp/x` gives on the faultbox kernel: fail-nth sites with the stacks a real sweep of
// mkdir shows, injectable functions with their retvals once and always, a block fault, a crash
// two sites reach (one group), a hang, a warning, silent failures, and guest text that is
// hostile to a page (markup, quotes, control bytes, invalid UTF-8). It is test input for the
// report renderers until a real explore run provides one, not an expected result.
#include <nlohmann/json.hpp>

namespace fb::test {

nlohmann::json sample_explore_report();

// Text a run's detail or title carries in the sample that would act if a page did not escape
// it: each would set data-pwned on <body>, or add an element with this id.
inline constexpr const char* kHostileMarker = "pwned";

}  // namespace fb::test
