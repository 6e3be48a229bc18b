#pragma once
// Who made a libvirt object (a scratch volume, an upload in progress): the faultbox process's
// host name, pid and start time, written into the object's name so a later faultbox can tell
// whether its maker is gone (killed by SIGKILL: no destructor ran) and clean up after it.
// The start time tells a reused pid apart. Only a maker on this host can be judged; one on
// another host is never called gone.
#include <optional>
#include <string>
#include <sys/types.h>

namespace fb {

struct LibvirtOwner {
  std::string host;                 // gethostname(); never contains '_'
  pid_t pid = 0;
  unsigned long long start_ticks = 0;  // /proc/PID/stat field 22

  static const LibvirtOwner& self();
  // "PID-TICKS@HOST"; parse() reads it back, nullopt for anything else.
  std::string tag() const;
  static std::optional<LibvirtOwner> parse(const std::string& tag);
  // True only when the owner ran on this host and no process with its pid and start time exists.
  bool gone() const;
  bool operator==(const LibvirtOwner&) const = default;
};

}  // namespace fb
