#pragma once
// One cgroup v2 per exec: /sys/fs/cgroup/faultbox/step-<channel>. The forked child moves
// itself in before exec, so the step's whole process tree (children inherit the cgroup) can be
// told apart from the agent and init: BPF faults match its cgroup id, and memory limits (S7)
// will be set on it. Removed once the step is reaped and nothing is left in it.
// It has one child, `target`: a step that must not be hit from its first instruction moves
// itself in right before the call under test (`echo $$ > $FAULTBOX_CGROUP/target/cgroup.procs`),
// as failcmd.sh marks itself, and the step's BPF faults then hit only what runs in there.
#include "common/fd.h"
#include "common/result.h"

#include <cstdint>
#include <string>

namespace fb::agent {

class StepCgroup {
 public:
  // Creates <root>/step-<channel> (and root itself when missing).
  static Result<StepCgroup> create(const std::string& root, std::uint32_t channel);
  StepCgroup() = default;
  StepCgroup(StepCgroup&& o) noexcept;
  StepCgroup& operator=(StepCgroup&& o) noexcept;
  StepCgroup(const StepCgroup&) = delete;
  StepCgroup& operator=(const StepCgroup&) = delete;
  ~StepCgroup();

  const std::string& path() const { return path_; }
  // What bpf_get_current_cgroup_id() returns for tasks in it: the kernfs node id, which is
  // the directory's inode number on 64-bit kernels.
  std::uint64_t id() const { return id_; }
  std::uint64_t target_id() const { return target_id_; }
  // cgroup.procs opened for writing; a child writes "0" to it to move itself in.
  int procs_fd() const { return procs_.get(); }
  // Drops the procs fd in the parent once the child has joined (or failed to).
  void close_procs() { procs_.reset(); }

 private:
  void remove();
  std::string path_;
  std::uint64_t id_ = 0;
  std::uint64_t target_id_ = 0;
  Fd procs_;
};

// rmdir of step cgroups that still held processes (a daemonised grandchild) when their step
// ended; retried whenever a child is reaped.
void remove_leftover_step_cgroups();

}  // namespace fb::agent
