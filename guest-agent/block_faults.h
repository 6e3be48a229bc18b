#pragma once
// Block-device fault modules: each creates a block device whose I/O the kernel fails on
// purpose (dm-dust, dm-flakey, scsi_debug, null_blk), reports it to steps through info()
// {"device": "/dev/..."}, counts what the device failed, and tears it down on disarm.
#include "guest-agent/faults.h"

#include <memory>
#include <string>

namespace fb::agent {

bool is_block_fault_type(const std::string& type);

// spec as for arm_fault(). Nothing stays behind when it fails.
AgentResult<std::unique_ptr<Fault>> arm_block_fault(const nlohmann::json& spec);

// Where the agent finds tracefs and configfs (tests on the host may point them elsewhere).
void set_tracefs_root(const std::string& root);
void set_configfs_root(const std::string& root);

}  // namespace fb::agent
