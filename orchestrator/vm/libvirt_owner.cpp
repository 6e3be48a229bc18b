#include "orchestrator/vm/libvirt_owner.h"

#include "common/files.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string_view>
#include <unistd.h>

namespace fb {
namespace {

std::string this_boot_id() {
  auto id = read_file("/proc/sys/kernel/random/boot_id");
  std::string out;
  // A UUID; kept to what may stand in a volume name ('_' separates the tag from the rest).
  if (id)
    for (char c : *id)
      if (std::isxdigit(static_cast<unsigned char>(c)) || c == '-') out += c;
  return out.empty() ? "unknown-boot" : out;
}

template <class T>
bool parse_number(std::string_view text, T& out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::optional<unsigned long long> LibvirtOwner::start_ticks_of(pid_t pid) {
  auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return std::nullopt;
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  auto close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::string_view rest = std::string_view(*stat).substr(close + 2);  // from field 3
  for (int field = 3; field < 22; ++field) {
    auto space = rest.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(space + 1);
  }
  unsigned long long ticks = 0;
  if (!parse_number(rest.substr(0, rest.find(' ')), ticks)) return std::nullopt;
  return ticks;
}

const LibvirtOwner& LibvirtOwner::self() {
  static const LibvirtOwner me{this_boot_id(), getpid(), start_ticks_of(getpid()).value_or(0)};
  return me;
}

std::string LibvirtOwner::tag() const {
  return std::to_string(pid) + "-" + std::to_string(start_ticks) + "@" + boot_id;
}

std::optional<LibvirtOwner> LibvirtOwner::parse(const std::string& tag) {
  auto dash = tag.find('-');
  auto at = tag.find('@');
  if (dash == std::string::npos || at == std::string::npos || at < dash || at + 1 == tag.size()) return std::nullopt;
  LibvirtOwner owner;
  owner.boot_id = tag.substr(at + 1);
  if (!parse_number(std::string_view(tag).substr(0, dash), owner.pid) || owner.pid <= 0) return std::nullopt;
  if (!parse_number(std::string_view(tag).substr(dash + 1, at - dash - 1), owner.start_ticks)) return std::nullopt;
  return owner;
}

bool LibvirtOwner::gone(const std::string& this_boot_id,
                        const std::function<std::optional<unsigned long long>(pid_t)>& start_ticks_of) const {
  if (boot_id != this_boot_id) return false;
  auto ticks = start_ticks_of(pid);
  return !ticks || *ticks != start_ticks;
}

bool LibvirtOwner::gone() const { return gone(self().boot_id, start_ticks_of); }

}  // namespace fb
