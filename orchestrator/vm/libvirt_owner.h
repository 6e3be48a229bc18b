#pragma once
// Who made a libvirt object (a scratch volume, an upload in progress): the faultbox process's
// pid, start time and boot id, written into the object's name so a later faultbox can tell
// whether its maker is gone (killed by SIGKILL: no destructor ran) and clean up after it.
// The start time tells a reused pid apart; the boot id (not the host name, which containers
// and fresh machines often share) tells this boot of this host from any other. Only a maker of
// this boot can be judged; one of another host or boot is never called gone. Fixed at the
// first call: a forked child that uses it carries its parent's identity.
#include <optional>
#include <string>
#include <sys/types.h>

namespace fb {

struct LibvirtOwner {
  std::string boot_id;              // /proc/sys/kernel/random/boot_id
  pid_t pid = 0;
  unsigned long long start_ticks = 0;  // /proc/PID/stat field 22

  static const LibvirtOwner& self();
  // "PID-TICKS@BOOTID"; parse() reads it back, nullopt for anything else.
  std::string tag() const;
  static std::optional<LibvirtOwner> parse(const std::string& tag);
  // True only when the owner ran in this boot and no process with its pid and start time exists.
  bool gone() const;
  bool operator==(const LibvirtOwner&) const = default;
};

}  // namespace fb
