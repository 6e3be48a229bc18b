#pragma once
// Expected failures travel as values. Three kinds are kept apart on purpose (CONVENTIONS 6):
// Boot (the kernel or image under test is broken: a finding), Infra (our machinery broke:
// not a finding), and Usage/Input (the user asked for something wrong). Guest verdicts are
// not errors at all and never pass through this type.
#include <fmt/core.h>

#include <string>
#include <utility>
#include <variant>

namespace fb {

enum class ErrorKind {
  Usage,     // bad command line or input file
  Infra,     // QEMU missing, a socket failed, the host could not do its part
  Boot,      // kernel/image under test did not come up
  Protocol,  // the agent said something we cannot understand
  Timeout,   // a deadline passed (the caller decides whether that is a hang)
};

const char* to_string(ErrorKind kind);

struct Error {
  ErrorKind kind;
  std::string message;
};

template <class... Args>
Error make_error(ErrorKind kind, fmt::format_string<Args...> f, Args&&... args) {
  return Error{kind, fmt::format(f, std::forward<Args>(args)...)};
}

// E is the error type: Error everywhere but in the guest agent, whose failures carry the
// protocol error code they are reported with (guest-agent/agent_error.h).
template <class T, class E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(E error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  const E& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(E error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const E& error() const { return error_; }

 private:
  E error_{};
  bool ok_ = true;
};

using Status = Result<void>;

// Propagate an error out of a function returning Result<U>.
#define FB_TRY(expr)                                \
  do {                                              \
    auto fb_try_result_ = (expr);                   \
    if (!fb_try_result_) return fb_try_result_.error(); \
  } while (0)

}  // namespace fb
