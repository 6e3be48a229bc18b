#pragma once
// Who made a libvirt object (a domain, a scratch volume, an upload in progress): the faultbox
// process's pid, start time and boot id, written into a domain's <metadata> and a volume's name
// so a later faultbox can tell whether its maker is gone (killed by SIGKILL: no destructor ran)
// and clean up after it. One record and one orphan rule for both.
// The start time tells a reused pid apart; the boot id (not the host name, which containers
// and fresh machines often share) tells this boot of this host from any other. Only a maker of
// this boot can be judged; one of another host or boot is never called gone. Fixed at the
// first call: a forked child that uses it carries its parent's identity.
#include <functional>
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
  // The rule itself, given this boot's id and a lookup of a pid's start time (unit tests).
  bool gone(const std::string& this_boot_id,
            const std::function<std::optional<unsigned long long>(pid_t)>& start_ticks_of) const;
  // /proc/PID/stat's start time (field 22), nullopt when there is no such process.
  static std::optional<unsigned long long> start_ticks_of(pid_t pid);
  bool operator==(const LibvirtOwner&) const = default;
};

}  // namespace fb
