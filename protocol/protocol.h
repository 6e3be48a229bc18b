#pragma once
// faultbox host <-> agent protocol, version 1. docs/protocol.md is the prose of this file.
//
// Two virtio-serial ports:
//  - control (org.faultbox.control): newline-delimited JSON. Requests carry "id" and "op";
//    every request gets exactly one reply {"id", "ok": true, ...} or
//    {"id", "ok": false, "error": {"code", "message"}}. The agent also sends events
//    {"event": ...} that answer no request (ready, exit, heartbeat).
//  - trace (org.faultbox.trace): binary frames (frame.h), for bytes that must arrive
//    live, in order and unchanged: exec stdout/stderr, kernel log, trace events.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fb::proto {

inline constexpr int kVersion = 1;

inline constexpr const char* kControlPortName = "org.faultbox.control";
inline constexpr const char* kTracePortName = "org.faultbox.trace";
// The virtio-blk serial of the disk root (`[vm] root = "disk"`), so the guest sees it as
// $FAULTBOX_DISK_FAULTBOX_ROOT and no scenario disk can be confused with it.
inline constexpr const char* kRootDiskSerial = "faultbox-root";

// A control line longer than this is answered with an error and skipped, never buffered.
inline constexpr std::size_t kMaxLineBytes = 1 << 20;
// A trace frame carries at most this many payload bytes; larger output is split.
inline constexpr std::size_t kMaxFramePayload = 64 * 1024;
// Requests the agent will hold at once before answering "busy".
inline constexpr int kMaxOutstandingExecs = 32;
// argv/env of one exec together may not exceed this.
inline constexpr std::size_t kMaxExecArgBytes = 256 * 1024;
// What `read` returns of one file at most (the rest is cut, and says so).
inline constexpr std::size_t kMaxReadBytes = 256 * 1024;

// Printed on the console by the agent when the kernel command line has faultbox.probe=1:
// the accelerator probe looks for it.
inline constexpr const char* kProbeMarker = "FAULTBOX-PROBE-OK";
// Scenario disks: the host puts one "faultbox.disk=NAME:SERIAL" word per disk on the kernel
// command line; the agent finds each disk by its serial, whatever the bus, and waits for them.
inline constexpr const char* kDiskCmdlineParam = "faultbox.disk=";
// How long the agent waits for them, in ms: set by the host below its own boot timeout, so a
// missing disk is reported as such rather than as an agent that never came up.
inline constexpr const char* kDiskWaitCmdlineParam = "faultbox.disk_wait_ms=";
// The environment variable a step finds a disk in, FAULTBOX_DISK_<NAME> (NAME upper-cased, other
// characters '_'): the agent sets it, and explore's discovery steps read it.
inline std::string disk_env_var(std::string_view name) {
  std::string var = "FAULTBOX_DISK_";
  for (char c : name) var.push_back(isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(toupper(c)) : '_');
  return var;
}

namespace op {
inline constexpr const char* kHello = "hello";
inline constexpr const char* kSync = "sync";
inline constexpr const char* kPing = "ping";
inline constexpr const char* kExec = "exec";
inline constexpr const char* kSignal = "signal";
inline constexpr const char* kShutdown = "shutdown";
inline constexpr const char* kArm = "arm";
inline constexpr const char* kDisarm = "disarm";
inline constexpr const char* kKmsg = "kmsg";
// Writes each character of "keys" to /proc/sysrq-trigger (hang evidence: 'w' blocked tasks,
// 't' every task's stack).
inline constexpr const char* kSysrq = "sysrq";
// Reads small guest files (proc, sysfs, cgroup): {"paths": [...]} -> {"files": {path: text}}.
inline constexpr const char* kRead = "read";
// Streams tracefs events: {"events": ["block:block_rq_error", ...]} -> trace_pipe text of a
// private tracefs instance, as frames of stream Trace on kTraceEventsChannel.
inline constexpr const char* kTraceEvents = "trace_events";
}  // namespace op

// Trace channel of the kernel log (exec channels start at 1).
inline constexpr std::uint32_t kKmsgChannel = 0;
// Trace channel of the tracefs event stream (exec channels count up from 1, far below it).
inline constexpr std::uint32_t kTraceEventsChannel = 0x7fffffff;

namespace event {
inline constexpr const char* kReady = "ready";
inline constexpr const char* kExit = "exit";
// Sent every hello.heartbeat_ms while the agent's loop turns; its absence is how the host tells
// a wedged guest from a slow step.
inline constexpr const char* kHeartbeat = "heartbeat";
}  // namespace event

// Error codes in {"ok": false, "error": {"code": ...}}.
namespace errc {
inline constexpr const char* kBadRequest = "bad_request";   // not JSON, or fields missing/wrong
inline constexpr const char* kTooLarge = "too_large";       // line over kMaxLineBytes
inline constexpr const char* kUnknownOp = "unknown_op";
inline constexpr const char* kBusy = "busy";                // too many outstanding execs
inline constexpr const char* kExecFailed = "exec_failed";   // fork/exec in the guest failed
inline constexpr const char* kNoSuchChannel = "no_such_channel";
inline constexpr const char* kVersionMismatch = "version_mismatch";
inline constexpr const char* kNoSuchFault = "no_such_fault";
inline constexpr const char* kNotInjectable = "not_injectable";  // fail_function target not allowed
inline constexpr const char* kNotImplemented = "not_implemented";
inline constexpr const char* kArmFailed = "arm_failed";
inline constexpr const char* kNotAvailable = "not_available";  // the kernel lacks the interface
inline constexpr const char* kBadTarget = "bad_target";        // no such disk or partition
}  // namespace errc

}  // namespace fb::proto
