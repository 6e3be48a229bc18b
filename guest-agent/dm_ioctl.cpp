#include "guest-agent/dm_ioctl.h"

#include <linux/dm-ioctl.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace fb::agent {

namespace {

constexpr const char* kControlPath = "/dev/mapper/control";
// Room for a table or a message reply (listbadblocks prints one line per block).
constexpr std::size_t kBufferBytes = 64 * 1024;

std::size_t align8(std::size_t n) { return (n + 7) & ~std::size_t{7}; }

}  // namespace

Result<DmControl> DmControl::open() {
  Fd fd(::open(kControlPath, O_RDWR | O_CLOEXEC));
  if (!fd) {
    // devtmpfs names the misc device "mapper/control" only once dm registered it; if the node is
    // missing (a /dev that is not devtmpfs), make it ourselves.
    mkdir("/dev/mapper", 0755);
    if (mknod(kControlPath, S_IFCHR | 0600, makedev(10, 236)) != 0 && errno != EEXIST)
      return Error{ErrorKind::Infra, std::string("mknod ") + kControlPath + ": " + strerror(errno)};
    fd.reset(::open(kControlPath, O_RDWR | O_CLOEXEC));
    if (!fd)
      return Error{ErrorKind::Infra,
                   std::string("open ") + kControlPath + ": " + strerror(errno) + " (kernel without CONFIG_BLK_DEV_DM?)"};
  }
  return DmControl(std::move(fd));
}

Result<DmControl::Reply> DmControl::call(unsigned long request, const std::string& name, const std::string& payload,
                                         std::uint32_t target_count, std::uint32_t flags) {
  if (name.size() >= DM_NAME_LEN) return Error{ErrorKind::Infra, "dm name too long: " + name};
  if (sizeof(dm_ioctl) + payload.size() > kBufferBytes) return Error{ErrorKind::Infra, "dm request too large"};
  // 8-byte aligned: the kernel reads u64 fields of the payload in place.
  std::vector<std::uint64_t> buf(kBufferBytes / 8, 0);
  auto* io = reinterpret_cast<dm_ioctl*>(buf.data());
  io->version[0] = DM_VERSION_MAJOR;
  io->version[1] = 0;
  io->version[2] = 0;
  io->data_size = static_cast<std::uint32_t>(kBufferBytes);
  io->data_start = static_cast<std::uint32_t>(sizeof(dm_ioctl));
  io->target_count = target_count;
  io->flags = flags;
  strncpy(io->name, name.c_str(), DM_NAME_LEN - 1);
  memcpy(reinterpret_cast<char*>(io) + io->data_start, payload.data(), payload.size());
  if (ioctl(fd_.get(), request, io) != 0) return Error{ErrorKind::Infra, strerror(errno)};
  Reply reply;
  reply.dev = io->dev;
  if ((io->flags & DM_DATA_OUT_FLAG) && io->data_start < kBufferBytes) {
    const char* out = reinterpret_cast<const char*>(io) + io->data_start;
    reply.data.assign(out, strnlen(out, kBufferBytes - io->data_start));
  }
  if (io->flags & DM_BUFFER_FULL_FLAG) reply.data.append("\n[faultbox: reply truncated]");
  return reply;
}

Result<std::uint64_t> DmControl::create(const std::string& name) {
  auto r = call(DM_DEV_CREATE, name, {}, 0, 0);
  if (!r) return Error{ErrorKind::Infra, "DM_DEV_CREATE " + name + ": " + r.error().message};
  return r->dev;
}

Status DmControl::load_table(const std::string& name, const std::vector<DmTarget>& targets) {
  std::string payload;
  for (auto& t : targets) {
    if (t.type.size() >= DM_MAX_TYPE_NAME) return Error{ErrorKind::Infra, "dm target type too long: " + t.type};
    dm_target_spec spec{};
    spec.sector_start = t.start_sector;
    spec.length = t.sectors;
    strncpy(spec.target_type, t.type.c_str(), DM_MAX_TYPE_NAME - 1);
    std::size_t size = align8(sizeof spec + t.params.size() + 1);
    spec.next = static_cast<std::uint32_t>(size);  // offset of the next spec from this one
    std::string chunk(size, '\0');
    memcpy(chunk.data(), &spec, sizeof spec);
    memcpy(chunk.data() + sizeof spec, t.params.data(), t.params.size());
    payload += chunk;
  }
  auto r = call(DM_TABLE_LOAD, name, payload, static_cast<std::uint32_t>(targets.size()), 0);
  if (!r) return Error{ErrorKind::Infra, "DM_TABLE_LOAD " + name + ": " + r.error().message + " (the kernel log says why)"};
  return {};
}

Status DmControl::resume(const std::string& name) {
  auto r = call(DM_DEV_SUSPEND, name, {}, 0, 0);
  if (!r) return Error{ErrorKind::Infra, "resume " + name + ": " + r.error().message};
  return {};
}

Result<std::string> DmControl::message(const std::string& name, const std::string& text) {
  std::string payload(sizeof(dm_target_msg), '\0');  // sector 0: the one target of our tables
  payload += text;
  payload.push_back('\0');
  auto r = call(DM_TARGET_MSG, name, payload, 0, 0);
  if (!r) return Error{ErrorKind::Infra, "message '" + text + "' to " + name + ": " + r.error().message};
  return std::move(r->data);
}

Status DmControl::remove(const std::string& name, bool deferred) {
  auto r = call(DM_DEV_REMOVE, name, {}, 0, deferred ? DM_DEFERRED_REMOVE : 0);
  if (!r) return Error{ErrorKind::Infra, "DM_DEV_REMOVE " + name + ": " + r.error().message};
  return {};
}

}  // namespace fb::agent
