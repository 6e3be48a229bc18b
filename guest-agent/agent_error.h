#pragma once
// How the agent's failures travel: as values that carry the protocol error code
// (proto::errc::*) the host will see with the message. Helpers that do not know which code a
// failure means (a sysfs write, a dm ioctl) return plain Result/Status; the request handler or
// fault module that called them picks the code with with_code().
#include "common/result.h"

#include <string>
#include <type_traits>
#include <utility>

namespace fb::agent {

struct AgentError {
  std::string code;  // proto::errc::*
  std::string message;
};

template <class T>
using AgentResult = Result<T, AgentError>;
using AgentStatus = AgentResult<void>;

// A lower-level failure as the agent reports it, under `code`.
template <class T>
AgentResult<T> with_code(const char* code, Result<T> r) {
  if (!r) return AgentError{code, r.error().message};
  if constexpr (std::is_void_v<T>) return {};
  else return std::move(*r);
}

}  // namespace fb::agent
