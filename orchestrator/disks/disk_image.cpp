#include "orchestrator/disks/disk_image.h"

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

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

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

// Makes the disk at `path`: blank, or partitioned, formatted and filled through the appliance.
Status build_image(const ScenarioDisk& d, const fs::path& path) {
  auto g = GuestfsHandle::create();
  if (!g) return g.error();
  if (guestfs_disk_create(g->get(), path.c_str(), d.format.c_str(), static_cast<std::int64_t>(d.size_bytes), -1) != 0)
    return g->error(ErrorKind::Infra, "creating " + path.string());
  if (!d.populated()) return {};
  FB_TRY(g->add_drive(path, d.format, false));
  FB_TRY(g->launch("make disk " + d.name));
  GuestfsStrings devs{guestfs_list_devices(g->get())};
  auto dev_list = devs.list();
  if (dev_list.empty()) return g->error(ErrorKind::Infra, "listing devices");
  std::string disk = dev_list[0];
  std::vector<std::string> devices = {disk};  // index 0: whole disk; N: partition N
  if (!d.partitions.empty()) {
    if (guestfs_part_init(g->get(), disk.c_str(), d.partition_table.c_str()) != 0)
      return g->error(ErrorKind::Infra, "writing the " + d.partition_table + " partition table");
    auto sectors = partition_sectors(d);
    for (std::size_t i = 0; i < sectors.size(); ++i) {
      if (guestfs_part_add(g->get(), disk.c_str(), "p", sectors[i].first, sectors[i].second) != 0)
        return g->error(ErrorKind::Infra, fmt::format("adding partition {}", i + 1));
      devices.push_back(disk + std::to_string(i + 1));
    }
    for (std::size_t i = 0; i < d.partitions.size(); ++i) FB_TRY(make_fs(*g, d.partitions[i].fs, devices[i + 1]));
  } else {
    FB_TRY(make_fs(*g, d.fs, disk));
  }
  FB_TRY(copy_files(*g, d, devices));
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

Result<PreparedDisk> prepare_disk(const ScenarioDisk& d) {
  auto t0 = std::chrono::steady_clock::now();
  if (!d.base.empty()) {
    auto format = image_format(d.base);
    if (!format) return format.error();
    FB_TRY(check_base(d.base, *format));
    return PreparedDisk{d.base, *format, true, since(t0)};
  }
  if (d.format != "raw" && d.format != "qcow2")
    return make_error(ErrorKind::Usage, "disk {}: format '{}' is not raw or qcow2", d.name, d.format);
  for (auto& p : d.partitions)
    if (std::find(std::begin(kDiskFilesystems), std::end(kDiskFilesystems), p.fs) == std::end(kDiskFilesystems))
      return make_error(ErrorKind::Usage, "disk {}: unknown fs '{}'", d.name, p.fs);
  if (std::find(std::begin(kDiskFilesystems), std::end(kDiskFilesystems), d.fs) == std::end(kDiskFilesystems))
    return make_error(ErrorKind::Usage, "disk {}: unknown fs '{}'", d.name, d.fs);
  auto key = disk_cache_key(d);
  if (!key) return key.error();
  auto dir = cache_subdir("disks");
  if (!dir) return dir.error();
  fs::path cached = *dir / (*key + "." + d.format);
  std::error_code ec;
  if (fs::is_regular_file(cached, ec)) {
    double s = since(t0);
    progress("disk {}: prepared image reused in {:.2f} s ({})", d.name, s, cached.string());
    return PreparedDisk{cached, d.format, true, s};
  }
  // Built beside its final place and renamed when complete; the janitor removes the temp dir
  // even if faultbox is killed meanwhile, so the cache never holds half an image.
  auto tmp = TempDir::create(*dir, ".partial-", /*janitor=*/true);
  if (!tmp) return tmp.error();
  fs::path building = tmp->path() / ("disk." + d.format);
  FB_TRY(build_image(d, building));
  fs::rename(building, cached, ec);
  if (ec) return make_error(ErrorKind::Infra, "cannot move {} to {}: {}", building.string(), cached.string(), ec.message());
  double s = since(t0);
  progress("disk {}: made in {:.1f} s, cached as {}", d.name, s, cached.string());
  return PreparedDisk{cached, d.format, false, s};
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
  nlohmann::json j = {{"disk", disk}, {"seconds", seconds}, {"failures", failures}, {"losses", losses}};
  j["fsck"] = nlohmann::json::array();
  for (auto& f : fsck) j["fsck"].push_back({{"filesystem", f.device}, {"status", f.status}, {"meaning", f.meaning}});
  j["files"] = nlohmann::json::array();
  for (auto& f : files)
    j["files"].push_back({{"location", f.location}, {"expected", f.expected}, {"found", f.found}, {"verdict", f.verdict}});
  return j;
}

Result<DiskInspection> inspect_disk(const ScenarioDisk& d, const DiskExpect& want, const fs::path& overlay) {
  auto t0 = std::chrono::steady_clock::now();
  DiskInspection out;
  out.disk = d.name;
  auto g = GuestfsHandle::create();
  if (!g) return g.error();
  FB_TRY(g->add_drive(overlay, "qcow2", /*read_only=*/true));
  FB_TRY(g->launch("inspect disk " + d.name));
  GuestfsStrings devs{guestfs_list_devices(g->get())};
  auto dev_list = devs.list();
  if (dev_list.empty()) return g->error(ErrorKind::Infra, "listing devices");
  std::string disk = dev_list[0];
  auto device_of = [&](unsigned part) { return part ? disk + std::to_string(part) : disk; };
  auto fs_of = [&](unsigned part) -> std::string {
    if (part == 0) return d.partitions.empty() ? d.fs : "none";
    return part <= d.partitions.size() ? d.partitions[part - 1].fs : "none";
  };

  // fsck first, on the state the run left; libguestfs's overlay takes any repair.
  std::vector<unsigned> ext4;
  for (unsigned p = 0; p <= d.partitions.size(); ++p)
    if (fs_of(p) == "ext4") ext4.push_back(p);
  bool clean = true;
  for (unsigned p : ext4) {
    FsckResult fr{p ? std::to_string(p) : "whole disk", 0, ""};
    int st = guestfs_fsck(g->get(), "ext4", device_of(p).c_str());
    if (st < 0) {
      fr.status = -1;
      fr.meaning = g->error(ErrorKind::Infra, "fsck").message;
    } else {
      fr.status = st;
      fr.meaning = st == 0 ? "clean" : (st & 4) ? "errors left uncorrected" : (st & 1) ? "errors found (and corrected on a throw-away copy)" : "fsck status " + std::to_string(st);
    }
    clean &= fr.status == 0;
    out.fsck.push_back(fr);
  }
  if (want.fsck_clean && *want.fsck_clean != clean) {
    std::string detail;
    for (auto& f : out.fsck) detail += fmt::format("{}{}: {}", detail.empty() ? "" : "; ", f.device, f.meaning);
    out.failures.push_back(fmt::format("disk {}: expected fsck {}, got {}", d.name, *want.fsck_clean ? "clean" : "errors",
                                       detail.empty() ? "no ext4 filesystem" : detail));
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
    if (guestfs_mount_ro(g->get(), dev.c_str(), "/") != 0) mount_error = g->error(ErrorKind::Infra, "mount").message;
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
      } else if (guestfs_is_file(g->get(), path.c_str()) <= 0) {
        fc.found = "absent";
      } else {
        char* sum = guestfs_checksum(g->get(), "sha256", path.c_str());
        if (sum) {
          fc.found = sum;
          free(sum);
        } else {
          fc.found = "unreadable: " + g->error(ErrorKind::Infra, "checksum").message;
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
    if (mount_error.empty()) (void)guestfs_umount_all(g->get());
  }
  (void)g->shutdown();
  out.seconds = since(t0);
  return out;
}

Result<double> appliance_start_seconds() {
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
  double s = since(t0);
  FB_TRY(g->shutdown());
  return s;
}

}  // namespace fb
