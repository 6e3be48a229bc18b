#pragma once
// Scenario disks made, cached and inspected through libguestfs. A guest disk is untrusted
// input: it is only ever read by the libguestfs appliance, never mounted on the host.
//   <cache>/disks/<hash>.<format>  prepared images, keyed by the disk spec and file contents
#include "common/result.h"
#include "orchestrator/core/scenario.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace fb {

// The image a run's overlay sits on.
struct PreparedDisk {
  std::filesystem::path image;  // in the cache, or the scenario's base image
  std::string format;           // of image
  bool reused = false;          // found in the cache (or a base image)
  double seconds = 0;           // time spent making or finding it
};

// The cache key of a disk: its spec and the contents of the files it copies in. Not the name
// or serial: two disks alike share one prepared image.
Result<std::string> disk_cache_key(const ScenarioDisk& d);

// Finds each disk's prepared image in the cache or makes it there, in scenario order. The
// missing ones are made together in one appliance start, in a temp dir, and renamed into place
// when complete, so a failure leaves nothing. A base image is only checked. Errors name the
// disk and its [[disk]] line.
Result<std::vector<PreparedDisk>> prepare_disks(const std::vector<ScenarioDisk>& disks);
// What prepare_disks refuses before it starts an appliance (a base image qemu-img cannot open
// or check, a spec the guest cannot use, a missing file to copy in), without making anything.
Status check_disks(const std::vector<ScenarioDisk>& disks);

// A fresh qcow2 overlay at `overlay` on top of `backing`: what the VM gets, so neither the
// cached image nor a base image is ever written.
Status create_overlay(const std::filesystem::path& backing, const std::string& backing_format,
                      const std::filesystem::path& overlay);

// What the post-run inspection found on one disk.
struct DiskFileCheck {
  std::string location;  // "N:/path"
  std::string expected;  // sha256, lost:sha256, absent, present, unchanged; "" for a copied-in file nobody named
  std::string found;     // sha256, or "absent", or "unreadable: ..."
  std::string verdict;   // ok | missing | changed | unexpected | unreadable; for "lost:": lost | survived
};
struct FsckResult {
  std::string device;  // "1" for partition 1, "whole disk"
  int status = 0;      // fsck's exit status (0 clean, 1 errors corrected, 4 left uncorrected, ...)
  std::string meaning;
};
// A run of bytes the appliance could not read (readable_blocks).
struct UnreadableRange {
  std::int64_t offset = 0;
  std::int64_t length = 0;
  unsigned partition = 0;  // 0: outside every partition, or no partition table
};
struct DiskInspection {
  std::string disk;
  std::int64_t bytes_checked = 0;  // readable_blocks: the disk's size, all of it read
  std::vector<UnreadableRange> unreadable;
  std::vector<FsckResult> fsck;
  std::vector<DiskFileCheck> files;
  std::vector<std::string> failures;  // unmet [expect.disk.NAME]
  std::vector<std::string> losses;    // copied-in files that did not survive, expected or not
  double seconds = 0;            // this disk's checks
  double appliance_seconds = 0;  // the one appliance start all inspected disks shared
  nlohmann::json to_json() const;
};

struct DiskToInspect {
  const ScenarioDisk* disk;
  const DiskExpect* want;
  std::filesystem::path overlay;  // the qcow2 the run wrote
};
// Read-only inspection of a run's overlays after the VM is gone, all disks in one appliance:
// fsck every ext4 filesystem (on libguestfs's own throw-away overlay), checksum the expected and
// the copied-in files, and with readable_blocks read every byte of the disk.
Result<std::vector<DiskInspection>> inspect_disks(const std::vector<DiskToInspect>& disks);

// Starts an appliance on a tiny scratch disk and stops it: whether libguestfs works here and
// how long a start takes (faultbox doctor).
struct ApplianceStart {
  double seconds = 0;
  std::string appliance;  // GuestfsHandle::appliance(): which one started
};
Result<ApplianceStart> appliance_start_seconds();

}  // namespace fb
