#pragma once
// The one registry of fault types (CONVENTIONS 5a): each type's name, how the agent arms it and
// every parameter with its kind, range and default. The host's scenario schema, the plan (which
// fills in defaults), docs/scenarios.md and the agent's dispatch all read this table, so a
// default exists once.
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace fb::proto {

enum class ParamKind { Int, Bool, String, IntArray, StringArray };

inline constexpr std::int64_t kParamNoMax = INT64_MAX;
inline constexpr std::int64_t kParamNoMin = INT64_MIN;

struct FaultParam {
  const char* key;
  ParamKind kind;
  bool required;
  std::int64_t min;  // Int (and IntArray elements)
  std::int64_t max;
  std::optional<std::int64_t> default_value;  // Int and Bool (0/1); none: absent means "not set"
  const char* doc;   // without the default: generated docs add "(default ...)"
};

// How the agent arms a type; also what two faults of the type may share in the kernel.
enum class FaultMechanism {
  DebugfsAttr,  // /sys/kernel/debug/<name>/: one set of knobs per type, shared by all its users
  FailNth,      // /proc/<pid>/fail-nth of the step's own process
  DeviceMapper, // a dm-dust or dm-flakey device of its own over the target disk
  ScsiDebug,    // a scsi_debug host of its own
  NullBlk,      // a null_blk device of its own
  BpfOverride,  // a kprobe + BPF program of its own
};

struct FaultType {
  const char* name;
  FaultMechanism mechanism;
  const char* summary;
  std::span<const FaultParam> params;
  // Whether the agent marks the step's processes for it (task-filtered debugfs faults).
  bool debugfs() const { return mechanism == FaultMechanism::DebugfsAttr; }
};

std::span<const FaultType> fault_types();
const FaultType* find_fault_type(std::string_view name);
const FaultParam* find_param(const FaultType& type, std::string_view key);
// The registry's default of an Int or Bool parameter; the caller names only keys that have one.
std::int64_t param_default(std::string_view type, std::string_view key);

}  // namespace fb::proto
