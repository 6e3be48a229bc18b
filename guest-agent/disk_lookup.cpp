#include "guest-agent/disk_lookup.h"

#include "guest-agent/sysfs_text.h"
#include "protocol/protocol.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

namespace fb::agent {

namespace {

std::vector<NamedDisk> g_named;


std::string read_binary(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// The serial a name resolves through: the host's word for it, else the name itself.
std::string serial_for(const std::string& name) {
  if (g_named.empty()) return name;
  for (auto& d : g_named)
    if (d.name == name) return d.serial;
  return {};
}

std::string env_name(const std::string& name) { return proto::disk_env_var(name); }

}  // namespace

namespace {

// The values of every PREFIXvalue word of a kernel command line, in order.
std::vector<std::string> cmdline_values(const std::string& cmdline, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream ss(cmdline);
  std::string w;
  while (ss >> w)
    if (w.rfind(prefix, 0) == 0) out.push_back(w.substr(prefix.size()));
  return out;
}

}  // namespace

std::vector<NamedDisk> parse_disk_params(const std::string& cmdline) {
  std::vector<NamedDisk> out;
  for (auto& v : cmdline_values(cmdline, proto::kDiskCmdlineParam)) {
    auto colon = v.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == v.size()) continue;
    out.push_back({v.substr(0, colon), v.substr(colon + 1)});
  }
  return out;
}

std::chrono::milliseconds parse_disk_wait(const std::string& cmdline, std::chrono::milliseconds fallback) {
  auto values = cmdline_values(cmdline, proto::kDiskWaitCmdlineParam);
  if (values.empty()) return fallback;
  const std::string& v = values.front();
  if (v.empty() || v.size() > 9 || !std::all_of(v.begin(), v.end(), [](char c) { return isdigit(static_cast<unsigned char>(c)); }))
    return fallback;
  return std::chrono::milliseconds(std::stol(v));
}

void set_named_disks(std::vector<NamedDisk> disks) { g_named = std::move(disks); }
const std::vector<NamedDisk>& named_disks() { return g_named; }

std::string serial_from_vpd_pg80(std::string_view page) {
  if (page.size() < 4 || static_cast<unsigned char>(page[1]) != 0x80) return {};
  std::size_t len = static_cast<unsigned char>(page[2]) << 8 | static_cast<unsigned char>(page[3]);
  std::string_view s = page.substr(4, len);
  auto pad = [](char c) { return c == ' ' || c == '\0'; };
  while (!s.empty() && pad(s.front())) s.remove_prefix(1);
  while (!s.empty() && pad(s.back())) s.remove_suffix(1);
  return std::string(s);
}

std::string disk_serial(const std::string& sysfs, const std::string& dev) {
  std::string dir = sysfs + "/block/" + dev;
  std::string s = read_text(dir + "/serial");
  if (!s.empty()) return s;
  return serial_from_vpd_pg80(read_binary(dir + "/device/vpd_pg80"));
}

std::string find_disk_by_serial(const std::string& sysfs, const std::string& serial) {
  if (serial.empty() || serial == proto::kRootDiskSerial) return {};
  for (auto& dev : dir_entries(sysfs + "/block"))
    if (disk_serial(sysfs, dev) == serial) return dev;
  return {};
}

std::vector<std::string> wait_for_named_disks(const std::string& sysfs, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::vector<std::string> missing;
    for (auto& d : g_named)
      if (find_disk_by_serial(sysfs, d.serial).empty()) missing.push_back(d.name);
    if (missing.empty() || std::chrono::steady_clock::now() >= deadline) return missing;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Result<std::string> disk_target_dir(const std::string& sysfs, const std::string& target) {
  if (target.rfind("disk:", 0) != 0) return Error{ErrorKind::Usage, "target '" + target + "' is not disk:NAME[/N]"};
  std::string rest = target.substr(5);
  auto slash = rest.find('/');
  std::string name = rest.substr(0, slash);
  std::string part = slash == std::string::npos ? "" : rest.substr(slash + 1);
  std::string serial = serial_for(name);
  if (serial.empty()) return Error{ErrorKind::Usage, "no disk named '" + name + "' was announced to the guest"};
  std::string dev = find_disk_by_serial(sysfs, serial);
  if (dev.empty())
    return Error{ErrorKind::Usage, "no disk with serial '" + serial + "' in the guest (is its bus's driver in the kernel?)"};
  std::string dir = sysfs + "/block/" + dev;
  if (part.empty()) return dir;
  // Partition N is the child whose `partition` file says N: vdb1, sdc1, nvme0n1p1 alike.
  for (auto& child : dir_entries(dir))
    if (read_text(dir + "/" + child + "/partition") == part) return dir + "/" + child;
  return Error{ErrorKind::Usage, "disk '" + name + "' (" + dev + ") has no partition " + part};
}

std::vector<std::string> disk_env(const std::string& sysfs) {
  std::vector<std::string> out;
  // A disk root is never a scenario disk, but a step may want to know it.
  for (auto& dev : dir_entries(sysfs + "/block"))
    if (disk_serial(sysfs, dev) == proto::kRootDiskSerial) out.push_back(env_name(proto::kRootDiskSerial) + "=/dev/" + dev);
  if (!g_named.empty()) {
    for (auto& d : g_named)
      if (auto dev = find_disk_by_serial(sysfs, d.serial); !dev.empty()) out.push_back(env_name(d.name) + "=/dev/" + dev);
    return out;
  }
  for (auto& dev : dir_entries(sysfs + "/block")) {
    std::string serial = disk_serial(sysfs, dev);
    if (!serial.empty() && serial != proto::kRootDiskSerial) out.push_back(env_name(serial) + "=/dev/" + dev);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> disk_by_id_links(const std::string& sysfs) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& dev : dir_entries(sysfs + "/block")) {
    std::string serial = disk_serial(sysfs, dev);
    if (serial.empty()) continue;
    std::string dir = sysfs + "/block/" + dev;
    std::string kind = !read_text(dir + "/serial").empty()               ? "virtio"
                       : read_text(dir + "/device/vendor").rfind("ATA", 0) == 0 ? "ata"
                                                                                : "scsi";
    std::string name = kind + "-";
    for (char c : serial) name.push_back(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_');
    out.emplace_back(name, dev);
    for (auto& child : dir_entries(dir))
      if (auto n = read_text(dir + "/" + child + "/partition"); !n.empty()) out.emplace_back(name + "-part" + n, child);
  }
  return out;
}

}  // namespace fb::agent
