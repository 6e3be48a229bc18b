#pragma once
// faultbox-probe: small syscall probes for scenarios, in the agent's binary (called through the
// /usr/bin/faultbox-probe symlink), because busybox has no way to make some calls and see
// everything the kernel did with them.
namespace fb::agent {

int probe_main(int argc, char** argv);

}  // namespace fb::agent
