// libFuzzer target: the scenario parser (orchestrator/core/scenario.h) over arbitrary text.
// Invariants (a violation traps; an escaping exception aborts, which libFuzzer also reports):
//  - a refused scenario's message starts with "fuzz.toml:" (every error says where);
//  - an accepted scenario has at least one step, each with a non-empty argv;
//  - every name it accepted (scenario, steps, faults) holds no control character, and step and
//    fault names no '/' or "..": names reach terminals, file names and environment variables.
#include "orchestrator/core/scenario.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto sc = fb::parse_scenario_text(text, "fuzz.toml");
  if (!sc.ok()) {
    if (sc.error().message.rfind("fuzz.toml:", 0) != 0) __builtin_trap();
    return 0;
  }
  if (sc->steps.empty()) __builtin_trap();
  auto control = [](const std::string& n) {
    for (unsigned char c : n)
      if (c < 0x20 || c == 0x7f) return true;
    return false;
  };
  auto path_like = [](const std::string& n) { return n.find('/') != std::string::npos || n.find("..") != std::string::npos; };
  if (control(sc->name)) __builtin_trap();
  for (const auto& s : sc->steps)
    if (s.argv.empty() || control(s.name) || path_like(s.name)) __builtin_trap();
  for (const auto& f : sc->faults)
    if (control(f.name) || path_like(f.name)) __builtin_trap();
  return 0;
}
