#pragma once
// The device-mapper control interface (/dev/mapper/control) spoken directly, so the agent
// creates, loads, resumes, messages and removes dm devices without dmsetup or libdevmapper in
// the image. Facts from include/uapi/linux/dm-ioctl.h (interface version 4).
#include "common/fd.h"

#include <cstdint>
#include <string>
#include <vector>

namespace fb::agent {

struct DmTarget {
  std::uint64_t start_sector = 0;
  std::uint64_t sectors = 0;
  std::string type;    // "dust", "flakey", ...
  std::string params;  // the target's table line after start, length and type
};

class DmControl {
 public:
  // Opens the control node, making it (misc 10:236) when devtmpfs has none. Empty on failure.
  static DmControl open(std::string& err);
  DmControl() = default;
  bool valid() const { return fd_.valid(); }

  // Creates an empty device; dev is its device number.
  bool create(const std::string& name, std::uint64_t& dev, std::string& err);
  bool load_table(const std::string& name, const std::vector<DmTarget>& targets, std::string& err);
  // Makes the loaded table live (DM_DEV_SUSPEND without the suspend flag).
  bool resume(const std::string& name, std::string& err);
  // Sends a target message to the target at sector 0; reply holds what the target printed.
  bool message(const std::string& name, const std::string& text, std::string& reply, std::string& err);
  // Removes the device; a device still open elsewhere fails with EBUSY, unless deferred: then
  // the kernel removes it when the last opener closes it.
  bool remove(const std::string& name, bool deferred, std::string& err);

 private:
  explicit DmControl(Fd fd) : fd_(std::move(fd)) {}
  // One ioctl with a buffer big enough for a table or a message reply.
  bool call(unsigned long request, const std::string& name, const std::string& payload, std::uint32_t target_count,
            std::uint32_t flags, std::string* reply, std::uint64_t* dev, std::string& err);
  Fd fd_;
};

}  // namespace fb::agent
