#pragma once
// The device-mapper control interface (/dev/mapper/control) spoken directly, so the agent
// creates, loads, resumes, messages and removes dm devices without dmsetup or libdevmapper in
// the image. Facts from include/uapi/linux/dm-ioctl.h (interface version 4).
#include "common/fd.h"
#include "common/result.h"

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
  // Opens the control node, making it (misc 10:236) when devtmpfs has none.
  static Result<DmControl> open();
  DmControl() = default;
  bool valid() const { return fd_.valid(); }

  // Creates an empty device; returns its device number.
  Result<std::uint64_t> create(const std::string& name);
  Status load_table(const std::string& name, const std::vector<DmTarget>& targets);
  // Makes the loaded table live (DM_DEV_SUSPEND without the suspend flag).
  Status resume(const std::string& name);
  // Sends a target message to the target at sector 0; returns what the target printed.
  Result<std::string> message(const std::string& name, const std::string& text);
  // Removes the device; a device still open elsewhere fails with EBUSY, unless deferred: then
  // the kernel removes it when the last opener closes it.
  Status remove(const std::string& name, bool deferred);

 private:
  // What one ioctl gave back: the data the kernel wrote out, the device number.
  struct Reply {
    std::string data;
    std::uint64_t dev = 0;
  };
  explicit DmControl(Fd fd) : fd_(std::move(fd)) {}
  // One ioctl with a buffer big enough for a table or a message reply.
  Result<Reply> call(unsigned long request, const std::string& name, const std::string& payload,
                     std::uint32_t target_count, std::uint32_t flags);
  Fd fd_;
};

}  // namespace fb::agent
