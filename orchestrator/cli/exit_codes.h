#pragma once
// faultbox's exit codes, stable and documented in docs/exit-codes.md. `faultbox exec` passes
// the guest command's own status through instead (128+N for a signal); its own failures use
// these codes and always print a "faultbox:" line on stderr first.
#include "common/result.h"

namespace fb::exit_code {

inline constexpr int kPass = 0;
inline constexpr int kFail = 1;         // an expectation was not met
inline constexpr int kUsage = 2;        // bad command line, missing or malformed input file
inline constexpr int kKernelCrash = 3;  // oops, panic, BUG in the guest
inline constexpr int kHang = 4;         // the guest stopped answering; a deadline passed
inline constexpr int kInfra = 5;        // faultbox's machinery failed (QEMU missing, build failed)
inline constexpr int kBoot = 6;         // the kernel or boot image under test did not come up

inline int from_error(const Error& e) {
  switch (e.kind) {
    case ErrorKind::Usage: return kUsage;
    case ErrorKind::Boot: return kBoot;
    case ErrorKind::Timeout: return kHang;
    case ErrorKind::Infra:
    case ErrorKind::Protocol: return kInfra;
  }
  return kInfra;
}

}  // namespace fb::exit_code
