#pragma once
// The kernel's error-injection list: the functions marked ALLOW_ERROR_INJECTION, the only ones
// fail_function and bpf_override_return may fail (/sys/kernel/debug/error_injection/list, the
// same list as fail_function/injectable). Known before boot, so a scenario aiming at any other
// function is refused without wasting a boot: read from vmlinux when faultbox builds a kernel,
// and cached from the agent's hello the first time any other kernel boots.
#include "common/result.h"
#include "orchestrator/core/scenario.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace fb {

struct InjectableFunction {
  std::string function;
  std::string type;  // ERRNO, NULL, ERRNO_NULL, TRUE
};

struct ErrorInjectionList {
  std::string release;  // of the kernel it belongs to, when known
  std::string source;   // "vmlinux" or "booted kernel"
  std::vector<InjectableFunction> functions;
  bool contains(const std::string& function) const;
};

inline constexpr const char* kErrorInjectionListPath = "/sys/kernel/debug/error_injection/list";

// From a linked vmlinux: the entries between __start_ and __stop_error_injection_whitelist,
// each {address, type}, named through the ELF symbol table.
Result<ErrorInjectionList> read_error_injection_list(const std::filesystem::path& vmlinux);

// The list cached for this kernel image: next to a bzImage in faultbox's kernel cache, else
// under the cache's error-injection/ keyed by the image's SHA-256.
std::optional<ErrorInjectionList> cached_error_injection_list(const std::filesystem::path& bzimage);
Status cache_error_injection_list(const std::filesystem::path& bzimage, const ErrorInjectionList& list);
// The file name used next to a bzImage.
inline constexpr const char* kErrorInjectionFile = "error_injection.json";
Status write_error_injection_list(const std::filesystem::path& file, const ErrorInjectionList& list);

// The first fail_function or bpf_override fault of sc whose function is not in list, as a
// one-line Usage error naming the list.
std::optional<Error> find_uninjectable_fault(const Scenario& sc, const ErrorInjectionList& list);

}  // namespace fb
