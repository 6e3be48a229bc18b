#include "orchestrator/disks/disk_image.h"

#include "common/clock.h"
#include "common/process.h"
#include "common/temp_dir.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/log.h"
#include "orchestrator/disks/guestfs_handle.h"

#include <guestfs.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>

namespace fb {

namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kMiB = 1 << 20;
constexpr std::int64_t kSector = 512;

// Frees a string list libguestfs returned.
struct GuestfsStrings {
  char** v = nullptr;
  ~GuestfsStrings() {
    if (!v) return;
    for (char** p = v; *p; ++p) free(*p);
    free(v);
  }
  std::vector<std::string> list() const {
    std::vector<std::string> out;
    for (char** p = v; p && *p; ++p) out.emplace_back(*p);
    return out;
  }
};

Result<std::string> source_sha256(const DiskFileSpec& f) {
  if (f.content) return sha256_hex(*f.content);
  return sha256_file(f.host_path);
}

// Partition boundaries in sectors: 1 MiB aligned, starting at 1 MiB, the last MiB left for
// gpt's backup header; percentages share what the absolute sizes leave.
std::vector<std::pair<std::int64_t, std::int64_t>> partition_sectors(const ScenarioDisk& d) {
  std::uint64_t usable = d.size_bytes / kMiB * kMiB - 2 * kMiB, fixed = 0;
  for (auto& p : d.partitions) fixed += (p.size_bytes + kMiB - 1) / kMiB * kMiB;
  std::uint64_t shared = usable > fixed ? usable - fixed : 0;
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  std::uint64_t at = kMiB;
  for (auto& p : d.partitions) {
    std::uint64_t len = p.percent ? shared * p.percent / 100 / kMiB * kMiB : (p.size_bytes + kMiB - 1) / kMiB * kMiB;
    if (len < kMiB) len = kMiB;
    out.emplace_back(static_cast<std::int64_t>(at) / kSector, static_cast<std::int64_t>(at + len) / kSector - 1);
    at += len;
  }
  return out;
}

Status make_fs(GuestfsHandle& g, const std::string& fs_type, const std::string& device) {
  if (fs_type == "none") return {};
  int rc = fs_type == "swap" ? guestfs_mkswap(g.get(), device.c_str()) : guestfs_mkfs(g.get(), fs_type.c_str(), device.c_str());
  if (rc != 0) return g.error(ErrorKind::Infra, "making " + fs_type + " on " + device);
  return {};
}

// Writes the disk's files: each filesystem mounted once, its files put in, unmounted.
Status copy_files(GuestfsHandle& g, const ScenarioDisk& d, const std::vector<std::string>& devices) {
  std::map<unsigned, std::vector<const DiskFileSpec*>> by_fs;
  for (auto& f : d.files) by_fs[f.partition].push_back(&f);
  for (auto& [part, files] : by_fs) {
    const std::string& dev = devices[part];
    if (guestfs_mount(g.get(), dev.c_str(), "/") != 0) return g.error(ErrorKind::Infra, "mounting " + dev);
    for (auto* f : files) {
      std::string parent = fs::path(f->guest_path).parent_path().string();
      if (parent != "/" && guestfs_mkdir_p(g.get(), parent.c_str()) != 0)
        return g.error(ErrorKind::Infra, "mkdir " + f->location);
      int rc = f->content ? guestfs_write(g.get(), f->guest_path.c_str(), f->content->data(), f->content->size())
                          : guestfs_upload(g.get(), f->host_path.c_str(), f->guest_path.c_str());
      if (rc != 0) return g.error(ErrorKind::Infra, "copying in " + f->location);
    }
    if (guestfs_umount_all(g.get()) != 0) return g.error(ErrorKind::Infra, "unmounting " + dev);
  }
  return {};
}

// The device names the appliance gave the drives, in the order they were added.
Result<std::vector<std::string>> appliance_devices(GuestfsHandle& g, std::size_t expected) {
  GuestfsStrings devs{guestfs_list_devices(g.get())};
  auto list = devs.list();
  if (list.size() != expected)
    return make_error(ErrorKind::Infra, "libguestfs: the appliance shows {} disk(s), {} were added", list.size(), expected);
  return list;
}

// Partitions, formats and fills one disk, seen by the appliance as `disk`.
Status populate(GuestfsHandle& g, const ScenarioDisk& d, const std::string& disk) {
  std::vector<std::string> devices = {disk};  // index 0: whole disk; N: partition N
  if (!d.partitions.empty()) {
    if (guestfs_part_init(g.get(), disk.c_str(), d.partition_table.c_str()) != 0)
      return g.error(ErrorKind::Infra, "writing the " + d.partition_table + " partition table");
    auto sectors = partition_sectors(d);
    for (std::size_t i = 0; i < sectors.size(); ++i) {
      if (guestfs_part_add(g.get(), disk.c_str(), "p", sectors[i].first, sectors[i].second) != 0)
        return g.error(ErrorKind::Infra, fmt::format("adding partition {}", i + 1));
      devices.push_back(disk + std::to_string(i + 1));
    }
    for (std::size_t i = 0; i < d.partitions.size(); ++i) FB_TRY(make_fs(g, d.partitions[i].fs, devices[i + 1]));
  } else {
    FB_TRY(make_fs(g, d.fs, disk));
  }
  return copy_files(g, d, devices);
}

// Makes the given disks at their paths: blank, or partitioned, formatted and filled, all of
// them in one appliance start (which costs far more than the work on any disk).
Status build_images(const std::vector<std::pair<const ScenarioDisk*, fs::path>>& todo) {
  auto g = GuestfsHandle::create();
  if (!g) return g.error();
  std::vector<std::pair<const ScenarioDisk*, fs::path>> populated;
  for (auto& [d, path] : todo) {
    if (guestfs_disk_create(g->get(), path.c_str(), d->format.c_str(), static_cast<std::int64_t>(d->size_bytes), -1) != 0)
      return g->error(ErrorKind::Infra, "creating " + path.string());
    if (d->populated()) populated.emplace_back(d, path);
  }
  if (populated.empty()) return {};
  std::string names;
  for (auto& p : populated) {
    FB_TRY(g->add_drive(p.second, p.first->format, false));
    names += (names.empty() ? "" : ", ") + p.first->name;
  }
  FB_TRY(g->launch(fmt::format("make disk{} {}", populated.size() > 1 ? "s" : "", names)));
  auto devices = appliance_devices(*g, populated.size());
  if (!devices) return devices.error();
  for (std::size_t i = 0; i < populated.size(); ++i) {
    Status st = populate(*g, *populated[i].first, (*devices)[i]);
    if (!st) {
      Error e = st.error();
      e.message = "disk " + populated[i].first->name + ": " + e.message;
      return e;
    }
  }
  return g->shutdown();
}

Result<std::string> image_format(const fs::path& image) {
  auto r = run_capture({"qemu-img", "info", "--output=json", image.string()});
  if (!r) return r.error();
  if (r->status.code != 0)
    return make_error(ErrorKind::Usage, "base image {} is not a readable disk image: {}", image.string(), r->output);
  try {
    auto j = nlohmann::json::parse(r->output);
    return j.at("format").get<std::string>();
  } catch (const std::exception& e) {
    return make_error(ErrorKind::Infra, "qemu-img info {}: {}", image.string(), e.what());
  }
}

// A base qcow2 image must also pass qemu-img check: a damaged one would fail in the guest.
Status check_base(const fs::path& image, const std::string& format) {
  if (format != "qcow2") return {};
  auto r = run_capture({"qemu-img", "check", "-q", "-f", "qcow2", image.string()}, true);
  if (!r) return r.error();
  if (r->status.code != 0)
    return make_error(ErrorKind::Usage, "base image {} is a damaged qcow2 (qemu-img check: {})", image.string(), r->output);
  return {};
}

}  // namespace

Result<std::string> disk_cache_key(const ScenarioDisk& d) {
  Sha256 h;
  h.field("faultbox-disk-v1").field(std::to_string(d.size_bytes)).field(d.format).field(d.partition_table).field(d.fs);
  for (auto& p : d.partitions) h.field(std::to_string(p.size_bytes)).field(std::to_string(p.percent)).field(p.fs);
  for (auto& f : d.files) {
    auto sha = source_sha256(f);
    if (!sha) return sha.error();
    h.field(std::to_string(f.partition)).field(f.guest_path).field(*sha);
  }
  return h.hex().substr(0, 24);
}

namespace {

// Where a disk's problem is: the scenario line of its [[disk]], then its name.
Error about_disk(const ScenarioDisk& d, Error e) {
  e.message = fmt::format("{}{}disk {}: {}", d.where.str(), d.where.file.empty() ? "" : ": ", d.name, e.message);
  return e;
}

Status check_disk_spec(const ScenarioDisk& d) {
  if (d.format != "raw" && d.format != "qcow2")
    return make_error(ErrorKind::Usage, "format '{}' is not raw or qcow2", d.format);
  auto known = [](const std::string& fs) {
    return std::find(std::begin(kDiskFilesystems), std::end(kDiskFilesystems), fs) != std::end(kDiskFilesystems);
  };
  for (auto& p : d.partitions)
    if (!known(p.fs)) return make_error(ErrorKind::Usage, "unknown fs '{}'", p.fs);
  if (!known(d.fs)) return make_error(ErrorKind::Usage, "unknown fs '{}'", d.fs);
  auto sectors = partition_sectors(d);
  for (std::size_t i = 0; i < d.partitions.size(); ++i) {
    auto bytes = static_cast<std::uint64_t>(sectors[i].second - sectors[i].first + 1) * kSector;
    if (d.partitions[i].fs == "xfs" && bytes < kXfsMinBytes)
      return make_error(ErrorKind::Usage, "xfs on partition {} needs at least 300M (mkfs.xfs refuses less); it gets {}M",
                        i + 1, bytes >> 20);
  }
  return {};
}

// What a disk is made from, found without an appliance: a base image's format (checked), or
// the cache key of an image to make (its spec checked and its source files hashed).
struct DiskSource {
  std::string base_format;  // a base image
  std::string cache_key;    // an image to make or reuse
};

Result<DiskSource> examine_disk(const ScenarioDisk& d) {
  if (!d.base.empty()) {
    auto format = image_format(d.base);
    if (!format) return about_disk(d, format.error());
    if (auto st = check_base(d.base, *format); !st) return about_disk(d, st.error());
    return DiskSource{*format, ""};
  }
  if (auto st = check_disk_spec(d); !st) return about_disk(d, st.error());
  auto key = disk_cache_key(d);
  if (!key) return about_disk(d, key.error());
  return DiskSource{"", *key};
}

}  // namespace

Status check_disks(const std::vector<ScenarioDisk>& disks) {
  for (auto& d : disks)
    if (auto src = examine_disk(d); !src) return src.error();
  return {};
}

Result<std::vector<PreparedDisk>> prepare_disks(const std::vector<ScenarioDisk>& disks) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<PreparedDisk> out(disks.size());
  std::vector<std::size_t> missing;          // indexes of disks to make, one per cache entry
  std::map<fs::path, std::size_t> made_as;   // cache entry -> the disk that makes it
  std::vector<fs::path> cached_at(disks.size());
  for (std::size_t i = 0; i < disks.size(); ++i) {
    const ScenarioDisk& d = disks[i];
    auto ti = std::chrono::steady_clock::now();
    auto src = examine_disk(d);
    if (!src) return src.error();
    if (!d.base.empty()) {
      out[i] = PreparedDisk{d.base, src->base_format, true, seconds_since(ti)};
      continue;
    }
    auto dir = cache_subdir("disks");
    if (!dir) return dir.error();
    cached_at[i] = *dir / (src->cache_key + "." + d.format);
    std::error_code ec;
    if (fs::is_regular_file(cached_at[i], ec)) {
      out[i] = PreparedDisk{cached_at[i], d.format, true, seconds_since(ti)};
      progress("disk {}: prepared image reused in {:.2f} s ({})", d.name, out[i].seconds, cached_at[i].string());
      continue;
    }
    if (!made_as.count(cached_at[i])) {
      made_as[cached_at[i]] = i;
      missing.push_back(i);
    }
  }
  // Another faultbox process may be making the same entries: lock each (in path order, so two
  // processes cannot each hold one the other waits for), then reuse what it published meanwhile.
  std::vector<Fd> entry_locks;
  for (auto& [entry, maker] : made_as) {
    auto lock = lock_cache_entry(entry, "disk " + disks[maker].name);
    if (!lock) return lock.error();
    entry_locks.push_back(std::move(*lock));
  }
  std::erase_if(missing, [&](std::size_t i) {
    std::error_code ec;
    if (!fs::is_regular_file(cached_at[i], ec)) return false;
    progress("disk {}: prepared image made by another faultbox process meanwhile ({})", disks[i].name,
             cached_at[i].string());
    made_as.erase(cached_at[i]);
    return true;
  });
  for (std::size_t i = 0; i < disks.size(); ++i)  // disks sharing an entry published meanwhile
    if (out[i].image.empty() && !cached_at[i].empty() && !made_as.count(cached_at[i]))
      out[i] = PreparedDisk{cached_at[i], disks[i].format, true, seconds_since(t0)};
  if (!missing.empty()) {
    // Built beside their final place and renamed when complete; the janitor removes the temp
    // dir even if faultbox is killed meanwhile, so the cache never holds half an image.
    auto tmp = TempDir::create(cached_at[missing[0]].parent_path(), ".partial-", /*janitor=*/true);
    if (!tmp) return tmp.error();
    std::vector<std::pair<const ScenarioDisk*, fs::path>> todo;
    for (std::size_t i : missing)
      todo.emplace_back(&disks[i], tmp->path() / cached_at[i].filename());
    FB_TRY(build_images(todo));
    for (auto& [d, building] : todo) {
      std::error_code ec;
      fs::path cached = cached_at[static_cast<std::size_t>(d - disks.data())];
      fs::rename(building, cached, ec);
      if (ec) return make_error(ErrorKind::Infra, "cannot move {} to {}: {}", building.string(), cached.string(), ec.message());
    }
    double s = seconds_since(t0);
    for (std::size_t i = 0; i < disks.size(); ++i) {
      if (!out[i].image.empty()) continue;
      bool maker = made_as[cached_at[i]] == i;
      out[i] = PreparedDisk{cached_at[i], disks[i].format, !maker, s};
      if (maker)
        progress("disk {}: made in {:.1f} s{}, cached as {}", disks[i].name, s,
                 missing.size() > 1 ? fmt::format(" (with {} other disk(s), one appliance)", missing.size() - 1) : "",
                 cached_at[i].string());
    }
  }
  return out;
}

Status create_overlay(const fs::path& backing, const std::string& backing_format, const fs::path& overlay) {
  auto r = run_capture({"qemu-img", "create", "-q", "-f", "qcow2", "-F", backing_format, "-b", fs::absolute(backing).string(),
                        overlay.string()},
                       true);
  if (!r) return r.error();
  if (r->status.code != 0)
    return make_error(ErrorKind::Infra, "qemu-img create overlay {} on {}: {}", overlay.string(), backing.string(), r->output);
  return {};
}

nlohmann::json DiskInspection::to_json() const {
  nlohmann::json j = {{"disk", disk},         {"seconds", seconds}, {"appliance_seconds", appliance_seconds},
                      {"failures", failures}, {"losses", losses}};
  if (bytes_checked) {
    j["readable_blocks"] = {{"bytes", bytes_checked}, {"unreadable", nlohmann::json::array()}};
    for (auto& r : unreadable)
      j["readable_blocks"]["unreadable"].push_back({{"offset", r.offset}, {"length", r.length}, {"partition", r.partition}});
  }
  j["fsck"] = nlohmann::json::array();
  for (auto& f : fsck) j["fsck"].push_back({{"filesystem", f.device}, {"status", f.status}, {"meaning", f.meaning}});
  j["files"] = nlohmann::json::array();
  for (auto& f : files)
    j["files"].push_back({{"location", f.location}, {"expected", f.expected}, {"found", f.found}, {"verdict", f.verdict}});
  return j;
}

namespace {

// readable_blocks: every byte of the disk read back through the appliance. One checksum of the
// whole device reads it all at once; only when that fails is it read again in 1 MiB chunks, and
// a failing chunk in 64 KiB blocks, to name the unreadable ranges (and the partitions they hit).
// 64 KiB is qcow2's default cluster, the unit an image loses data in; a failed read costs the
// appliance ~2 s of SCSI error handling under TCG, so finer blocks cost more than they tell.
void check_readable(GuestfsHandle& g, const ScenarioDisk& d, const std::string& disk, DiskInspection& out) {
  std::int64_t size = guestfs_blockdev_getsize64(g.get(), disk.c_str());
  if (size < 0) {
    out.failures.push_back(fmt::format("disk {}: readable_blocks: {}", d.name, g.error(ErrorKind::Infra, "size").message));
    return;
  }
  out.bytes_checked = size;
  if (char* sum = guestfs_checksum_device(g.get(), "sha256", disk.c_str())) {
    free(sum);
    return;
  }
  constexpr std::int64_t kChunk = 1 << 20, kBlock = 64 << 10;
  constexpr std::size_t kMaxChunksNarrowed = 64;
  auto readable = [&](std::int64_t off, std::int64_t len) {
    std::size_t got = 0;
    char* buf = guestfs_pread_device(g.get(), disk.c_str(), static_cast<int>(len), off, &got);
    free(buf);
    return buf != nullptr && static_cast<std::int64_t>(got) == len;
  };
  auto add_bad = [&](std::int64_t off, std::int64_t len) {
    if (!out.unreadable.empty() && out.unreadable.back().offset + out.unreadable.back().length == off)
      out.unreadable.back().length += len;
    else
      out.unreadable.push_back({off, len, 0});
  };
  std::size_t narrowed = 0;
  for (std::int64_t off = 0; off < size; off += kChunk) {
    std::int64_t len = std::min(kChunk, size - off);
    if (readable(off, len)) continue;
    if (narrowed++ >= kMaxChunksNarrowed) {
      add_bad(off, len);  // enough detail: the rest is reported a chunk at a time
      continue;
    }
    for (std::int64_t b = off; b < off + len; b += kBlock)
      if (!readable(b, std::min(kBlock, off + len - b))) add_bad(b, std::min(kBlock, off + len - b));
  }
  if (out.unreadable.empty()) {
    // The checksum failed for a reason the chunked reads did not meet: report that instead.
    out.failures.push_back(fmt::format("disk {}: readable_blocks: {}", d.name,
                                       g.error(ErrorKind::Infra, "checksum of the whole device").message));
    return;
  }
  if (auto* parts = guestfs_part_list(g.get(), disk.c_str())) {
    for (auto& r : out.unreadable)
      for (std::uint32_t i = 0; i < parts->len; ++i)
        if (static_cast<std::uint64_t>(r.offset) >= parts->val[i].part_start &&
            static_cast<std::uint64_t>(r.offset) <= parts->val[i].part_end)
          r.partition = static_cast<unsigned>(parts->val[i].part_num);
    guestfs_free_partition_list(parts);
  }
  std::int64_t bad = 0;
  std::string ranges;
  for (auto& r : out.unreadable) {
    bad += r.length;
    if (ranges.size() < 300)
      ranges += fmt::format("{}{} bytes at {}{}", ranges.empty() ? "" : ", ", r.length, r.offset,
                            r.partition ? fmt::format(" (partition {})", r.partition) : "");
  }
  out.failures.push_back(fmt::format("disk {}: {} of {} bytes unreadable: {}", d.name, bad, size, ranges));
}

// A filesystem's own check, read-only in effect (libguestfs's overlay takes any repair), after
// what a mount would do first: ext4 and vfat fsck with -a, whose journal replay is part of it;
// xfs_repair -n refuses a dirty log, so the log is replayed by a mount first, as the guest's
// next mount would. status: 0 clean, else the checker's nonzero status (-1: it could not run).
FsckResult check_fs(GuestfsHandle& g, const std::string& fs, const std::string& device) {
  FsckResult fr{device, 0, ""};
  int st;
  if (fs == "xfs") {
    struct guestfs_xfs_repair_argv nomodify {};
    nomodify.bitmask = GUESTFS_XFS_REPAIR_NOMODIFY_BITMASK;
    nomodify.nomodify = 1;
    if (guestfs_mount(g.get(), device.c_str(), "/") == 0) (void)guestfs_umount_all(g.get());
    st = guestfs_xfs_repair_argv(g.get(), device.c_str(), &nomodify);
  } else {
    st = guestfs_fsck(g.get(), fs.c_str(), device.c_str());
  }
  if (st < 0) {
    fr.status = -1;
    fr.meaning = g.error(ErrorKind::Infra, fs == "xfs" ? "xfs_repair -n" : "fsck").message;
  } else {
    fr.status = st;
    fr.meaning = st == 0 ? "clean"
                 : fs == "xfs" ? "corruption found (xfs_repair -n)"
                 : (st & 4) ? "errors left uncorrected"
                 : (st & 1) ? "errors found (and corrected on a throw-away copy)"
                            : "fsck status " + std::to_string(st);
  }
  return fr;
}

// One disk's inspection, the appliance seeing it as `disk`.
Result<DiskInspection> inspect_one(GuestfsHandle& g, const ScenarioDisk& d, const DiskExpect& want, const std::string& disk) {
  auto t0 = std::chrono::steady_clock::now();
  DiskInspection out;
  out.disk = d.name;
  auto device_of = [&](unsigned part) { return part ? disk + std::to_string(part) : disk; };
  auto fs_of = [&](unsigned part) -> std::string {
    if (part == 0) return d.partitions.empty() ? d.fs : "none";
    return part <= d.partitions.size() ? d.partitions[part - 1].fs : "none";
  };

  // fsck first, on the state the run left; libguestfs's overlay takes any repair.
  bool clean = true;
  for (unsigned p = 0; p <= d.partitions.size(); ++p) {
    if (!fs_holds_files(fs_of(p))) continue;
    FsckResult fr = check_fs(g, fs_of(p), device_of(p));
    fr.device = p ? std::to_string(p) : "whole disk";
    clean &= fr.status == 0;
    out.fsck.push_back(fr);
  }
  if (want.fsck_clean && *want.fsck_clean != clean) {
    std::string detail;
    for (auto& f : out.fsck) detail += fmt::format("{}{}: {}", detail.empty() ? "" : "; ", f.device, f.meaning);
    out.failures.push_back(fmt::format("disk {}: expected fsck {}, got {}", d.name, *want.fsck_clean ? "clean" : "errors",
                                       detail.empty() ? "no filesystem to check" : detail));
  }

  for (unsigned p : want.fsck_clean_partitions) {
    auto f = std::find_if(out.fsck.begin(), out.fsck.end(), [&](const FsckResult& r) { return r.device == std::to_string(p); });
    if (f != out.fsck.end() && f->status != 0)
      out.failures.push_back(fmt::format("disk {}: partition {} expected fsck clean, got {}", d.name, p, f->meaning));
  }

  // The files to look at: those expected, then every copied-in file, so losses show unasked.
  std::vector<std::pair<std::string, std::string>> checks = want.files;
  for (auto& f : d.files)
    if (std::none_of(checks.begin(), checks.end(), [&](auto& c) { return c.first == f.location; }))
      checks.emplace_back(f.location, "");
  std::map<unsigned, std::vector<std::pair<std::string, std::string>>> by_fs;
  for (auto& c : checks) by_fs[parse_disk_location(c.first)->first].push_back(c);
  for (auto& [part, list] : by_fs) {
    std::string dev = device_of(part);
    std::string mount_error;
    if (guestfs_mount_ro(g.get(), dev.c_str(), "/") != 0) mount_error = g.error(ErrorKind::Infra, "mount").message;
    for (auto& [location, expected] : list) {
      std::string path = parse_disk_location(location)->second;
      DiskFileCheck fc{location, expected, "", "ok"};
      const DiskFileSpec* source = nullptr;
      for (auto& f : d.files)
        if (f.location == location) source = &f;
      std::string source_sha;
      if (source) {
        auto s = source_sha256(*source);
        if (!s) return s.error();
        source_sha = *s;
      }
      if (!mount_error.empty()) {
        fc.found = "unreadable: " + mount_error;
      } else if (guestfs_is_file(g.get(), path.c_str()) <= 0) {
        fc.found = "absent";
      } else {
        char* sum = guestfs_checksum(g.get(), "sha256", path.c_str());
        if (sum) {
          fc.found = sum;
          free(sum);
        } else {
          fc.found = "unreadable: " + g.error(ErrorKind::Infra, "checksum").message;
        }
      }
      bool unreadable = fc.found.rfind("unreadable", 0) == 0;
      std::string lower = expected;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
      bool lost = lower.rfind("lost:", 0) == 0;
      bool met = expected.empty() ? true
                 : lost ? fc.found != lower.substr(5)
                 : expected == "absent" ? fc.found == "absent"
                 : expected == "present" ? !unreadable && fc.found != "absent"
                 : expected == "unchanged" ? fc.found == source_sha
                                           : fc.found == lower;
      if (lost) {
        fc.verdict = met ? "lost" : "survived";
        if (met)
          out.losses.push_back(fmt::format("disk {}: {}: the content written ({}...) did not survive: {}", d.name, location,
                                           lower.substr(5, 16), fc.found == "absent" ? "the file is gone" : "found " + fc.found));
      } else if (unreadable) fc.verdict = "unreadable";
      else if (source && fc.found == "absent") fc.verdict = "missing";
      else if (source && fc.found != source_sha && expected.empty()) fc.verdict = "changed";
      else if (!met) fc.verdict = fc.found == "absent" ? "missing" : expected == "absent" ? "unexpected" : "changed";
      if (source && fc.found != source_sha)
        out.losses.push_back(fmt::format("disk {}: {} {}", d.name, location,
                                         unreadable ? fc.found : fc.found == "absent" ? "is gone" : "changed since it was copied in"));
      if (!met)
        out.failures.push_back(fmt::format("disk {}: {} expected {}, found {}", d.name, location, expected, fc.found));
      out.files.push_back(fc);
    }
    if (mount_error.empty()) (void)guestfs_umount_all(g.get());
  }
  if (want.readable_blocks) check_readable(g, d, disk, out);
  out.seconds = seconds_since(t0);
  return out;
}

}  // namespace

Result<std::vector<DiskInspection>> inspect_disks(const std::vector<DiskToInspect>& disks) {
  std::vector<DiskInspection> out;
  if (disks.empty()) return out;
  auto t0 = std::chrono::steady_clock::now();
  auto g = GuestfsHandle::create();
  if (!g) return g.error();
  std::string names;
  for (auto& d : disks) {
    FB_TRY(g->add_drive(d.overlay, "qcow2", /*read_only=*/true));
    names += (names.empty() ? "" : ", ") + d.disk->name;
  }
  FB_TRY(g->launch(fmt::format("inspect disk{} {}", disks.size() > 1 ? "s" : "", names)));
  double start = seconds_since(t0);
  auto devices = appliance_devices(*g, disks.size());
  if (!devices) return devices.error();
  for (std::size_t i = 0; i < disks.size(); ++i) {
    auto one = inspect_one(*g, *disks[i].disk, *disks[i].want, (*devices)[i]);
    if (!one) return one.error();
    one->appliance_seconds = start;
    out.push_back(std::move(*one));
  }
  (void)g->shutdown();
  return out;
}

Result<ApplianceStart> appliance_start_seconds() {
  auto root = runtime_root();
  if (!root) return root.error();
  auto dir = TempDir::create(*root, "guestfs-probe-", /*janitor=*/true);
  if (!dir) return dir.error();
  auto g = GuestfsHandle::create();
  if (!g) return g.error();
  fs::path scratch = dir->path() / "scratch.raw";
  if (guestfs_disk_create(g->get(), scratch.c_str(), "raw", 16 * kMiB, -1) != 0)
    return g->error(ErrorKind::Infra, "creating a scratch disk");
  FB_TRY(g->add_drive(scratch, "raw", false));
  auto t0 = std::chrono::steady_clock::now();
  FB_TRY(g->launch("check that it starts"));
  ApplianceStart out{seconds_since(t0), g->appliance()};
  FB_TRY(g->shutdown());
  return out;
}

}  // namespace fb
