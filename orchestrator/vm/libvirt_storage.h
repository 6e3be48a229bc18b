#pragma once
// Files for a domain on a libvirt host that shares no files with us (qemu+ssh://): kernel,
// initrd and disk images travel as volumes of a `faultbox` directory pool on that host.
//
// Read-only inputs are keyed by content: faultbox-input-<sha256>_<owner>.img, complete only
// once its marker faultbox-input-<sha256>_<owner>.done exists. libvirt cannot rename a
// volume, so the marker is what says "finished": it is made after virStreamFinish succeeded
// and the volume's size was checked, and an upload that is killed half-way leaves an .img
// without a marker, which nobody uses and the next faultbox of this boot deletes (its owner,
// in the name, is gone). The second run finds the marker and uploads nothing.
//
// Writable per-run disks are scratch volumes, faultbox-scratch-<n>-<label>_<owner>.img:
// uploaded before the run, downloaded back after it (for local inspection) and deleted by
// their move-only owner; remove_orphans() deletes those of dead faultbox processes.
//
// Transfers are sparse (holes are sent as holes both ways), so a mostly empty 1 GiB disk
// costs what it holds.
#include "common/result.h"
#include "orchestrator/vm/libvirt_backend.h"
#include "orchestrator/vm/libvirt_handles.h"
#include "orchestrator/vm/libvirt_owner.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace fb {

struct VolumeStoreOptions {
  std::string pool_name = "faultbox";
  std::string pool_dir = "/var/lib/libvirt/faultbox";  // on the libvirt host
  // How long to wait for another faultbox's upload of the same input that may still be
  // running (one on another host cannot be checked for life).
  std::chrono::seconds wait_for_other_upload{600};
  // Called with the bytes of data sent so far during each upload (progress lines; tests).
  std::function<void(std::uint64_t)> on_upload_progress;
};

// What a store sent over the connection; tests check that a second ensure sends nothing.
struct TransferCounters {
  std::uint64_t uploads = 0, upload_bytes = 0;  // data bytes, holes not counted
};

// A per-run writable volume; deleted from the host when this owner goes.
class ScratchVolume {
 public:
  ScratchVolume() = default;
  ScratchVolume(ScratchVolume&& o) noexcept;
  ScratchVolume& operator=(ScratchVolume&& o) noexcept;
  ScratchVolume(const ScratchVolume&) = delete;
  ScratchVolume& operator=(const ScratchVolume&) = delete;
  ~ScratchVolume();

  const std::string& host_path() const { return host_path_; }  // for the domain XML
  const std::string& name() const { return name_; }
  // Writes the volume's content to `local` (temp file + rename: never half a disk); returns
  // the data bytes that came (holes not counted).
  Result<std::uint64_t> download_to(const std::filesystem::path& local);
  Status remove();  // idempotent

 private:
  friend class VolumeStore;
  virConnectPtr conn_ = nullptr;  // borrowed, like the store's
  lv::Vol vol_;
  std::string name_, host_path_;
};

// One store per thread (libvirt's connection may be shared; the counters are not).
class VolumeStore {
 public:
  // Borrows `conn` (it must outlive the store); makes sure the pool exists and runs, and is
  // safe when several faultbox processes do so at once.
  static Result<VolumeStore> open(virConnectPtr conn, VolumeStoreOptions options = {});

  VolumeStore(VolumeStore&&) noexcept;
  VolumeStore& operator=(VolumeStore&&) noexcept;
  ~VolumeStore();

  // The host path of a read-only copy of `local`, uploaded only when the host lacks one.
  Result<std::string> ensure_input(const std::filesystem::path& local);
  // A fresh writable copy of `local` on the host; label is for people reading `virsh vol-list`.
  Result<ScratchVolume> upload_scratch(const std::filesystem::path& local, const std::string& label);
  // Deletes scratch volumes and unfinished uploads whose owner faultbox (on this host) is gone.
  // Returns how many went.
  Result<int> remove_orphans();

  const TransferCounters& counters() const { return counters_; }
  const std::string& pool_dir() const { return pool_dir_; }
  virStoragePoolPtr pool() const { return pool_.get(); }

 private:
  VolumeStore() = default;
  Status upload(virStorageVolPtr vol, const std::filesystem::path& local, const std::string& name);
  Result<lv::Vol> create_volume(const std::string& name, std::uint64_t capacity);

  virConnectPtr conn_ = nullptr;
  lv::Pool pool_;
  std::string pool_dir_;
  VolumeStoreOptions options_;
  TransferCounters counters_;
  unsigned scratch_serial_ = 0;
};

// The libvirt backend's DomainFiles over a VolumeStore, for a daemon that shares no files with
// us: inputs go up once by content, writable disks as scratch volumes that come back after the
// run. A qcow2 overlay on a local backing file (every scenario disk and the disk root are one)
// goes up as the overlay alone, rebased onto its backing's input volume, so a big base image is
// sent once and each run only its few written clusters; on the way back it is rebased onto the
// local backing again. Scratch volumes not fetched are deleted with this object.
class PoolDomainFiles final : public DomainFiles {
 public:
  explicit PoolDomainFiles(VolumeStore store) : store_(std::move(store)) {}
  Result<std::string> stage_input(const std::filesystem::path& local) override { return store_.ensure_input(local); }
  Result<std::string> stage_writable(const std::filesystem::path& local) override;
  // The volume's content back into `local` (then the volume is deleted).
  Status fetch_writable(const std::string& staged, const std::filesystem::path& local) override;
  VolumeStore& store() { return store_; }

 private:
  struct Staged {
    ScratchVolume volume;
    std::string local_backing, backing_format;  // empty: a standalone image
  };
  VolumeStore store_;
  std::vector<Staged> scratch_;
};

// Writes a volume's content to `local` (sparse; temp file + rename); returns the data bytes.
Result<std::uint64_t> download_volume(virConnectPtr conn, virStorageVolPtr vol, const std::filesystem::path& local,
                                      const std::string& name);

// The sha256 of a file, cached in the user's cache per (path, size, mtime, inode), so a big
// kernel or disk is hashed once until it changes.
Result<std::string> cached_content_hash(const std::filesystem::path& file);

}  // namespace fb
