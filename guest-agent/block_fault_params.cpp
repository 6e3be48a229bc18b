#include "guest-agent/block_fault_params.h"

#include "protocol/scsi_debug_opts.h"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <string_view>

namespace fb::agent {

std::vector<std::uint64_t> parse_dust_block_list(const std::string& reply) {
  std::vector<std::uint64_t> out;
  std::istringstream in(reply);
  std::string line;
  while (std::getline(in, line)) {
    std::size_t i = 0;
    while (i < line.size() && isspace(static_cast<unsigned char>(line[i]))) ++i;
    std::size_t start = i;
    while (i < line.size() && isdigit(static_cast<unsigned char>(line[i]))) ++i;
    if (i == start) continue;  // "No blocks in badblocklist" and anything else that is not a number
    while (i < line.size() && isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i != line.size()) continue;
    out.push_back(std::stoull(line.substr(start)));
  }
  return out;
}

Result<unsigned> scsi_debug_opts_mask(const std::vector<std::string>& names) {
  unsigned mask = 0;
  for (auto& n : names) {
    auto& opts = proto::kScsiDebugOpts;
    auto it = std::find_if(std::begin(opts), std::end(opts), [&](const proto::ScsiDebugOpt& o) { return n == o.name; });
    if (it == std::end(opts)) {
      std::string known;
      for (auto& o : opts) known += std::string(" ") + o.name;
      return Error{ErrorKind::Usage, "unknown scsi_debug opt '" + n + "' (known:" + known + ")"};
    }
    mask |= it->bit;
  }
  return mask;
}

Result<std::string> flakey_table_params(const FlakeyParams& p) {
  if (p.up_interval + p.down_interval == 0)
    return Error{ErrorKind::Usage, "up_interval + down_interval is 0: dm-flakey needs a cycle of at least one second"};
  std::vector<std::string> features;
  if (p.drop_writes) features.push_back("drop_writes");
  if (p.error_writes) features.push_back("error_writes");
  if (p.drop_writes && p.error_writes)
    return Error{ErrorKind::Usage, "drop_writes and error_writes exclude each other (dm-flakey applies only the first)"};
  if (!p.corrupt_bio_byte.empty()) {
    auto& c = p.corrupt_bio_byte;
    if (c.size() != 4)
      return Error{ErrorKind::Usage, "corrupt_bio_byte needs 4 numbers: [nth_byte, direction (0 read, 1 write), value, flags]"};
    if (c[0] < 1)
      return Error{ErrorKind::Usage, "corrupt_bio_byte: nth_byte counts from 1"};
    if (c[1] != 0 && c[1] != 1)
      return Error{ErrorKind::Usage, "corrupt_bio_byte: direction is 0 (read) or 1 (write)"};
    if (c[2] < 0 || c[2] > 255)
      return Error{ErrorKind::Usage, "corrupt_bio_byte: value is 0..255"};
    if (c[1] == 1 && (p.drop_writes || p.error_writes))
      return Error{ErrorKind::Usage, "corrupt_bio_byte on writes is incompatible with drop_writes and error_writes"};
    features.push_back("corrupt_bio_byte");
    features.push_back(std::to_string(c[0]));
    features.push_back(c[1] == 1 ? "w" : "r");
    features.push_back(std::to_string(c[2]));
    features.push_back(std::to_string(c[3]));
  }
  std::string out = p.device + " 0 " + std::to_string(p.up_interval) + " " + std::to_string(p.down_interval);
  if (!features.empty()) {
    out += " " + std::to_string(features.size());
    for (auto& f : features) out += " " + f;
  }
  return out;
}

std::vector<std::string> null_blk_badblock_ranges(std::vector<std::uint64_t> sectors) {
  std::sort(sectors.begin(), sectors.end());
  sectors.erase(std::unique(sectors.begin(), sectors.end()), sectors.end());
  std::vector<std::string> out;
  for (std::size_t i = 0; i < sectors.size();) {
    std::size_t j = i;
    while (j + 1 < sectors.size() && sectors[j + 1] == sectors[j] + 1) ++j;
    out.push_back("+" + std::to_string(sectors[i]) + "-" + std::to_string(sectors[j]));
    i = j + 1;
  }
  return out;
}

std::int64_t ring_buffer_recorded(const std::string& stats) {
  std::int64_t entries = -1, overrun = -1;
  std::istringstream in(stats);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    std::string value = line.substr(colon + 1);
    try {
      if (key == "entries") entries = std::stoll(value);
      else if (key == "overrun") overrun = std::stoll(value);
    } catch (const std::exception&) {
    }
  }
  if (entries < 0 && overrun < 0) return -1;
  return std::max<std::int64_t>(entries, 0) + std::max<std::int64_t>(overrun, 0);
}

namespace {

// Frames of the tracing and probing machinery that records the stack, not of the I/O path.
bool tracing_frame(const std::string& fn) {
  for (const char* part : {"trace", "kretprobe", "kprobe", "ftrace", "perf_", "rethook"})
    if (fn.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

std::vector<std::string> trace_stack_signatures(const std::string& trace, std::size_t max) {
  std::vector<std::string> out;
  std::istringstream in(trace);
  std::string line;
  std::vector<std::string> frames;
  bool in_stack = false;
  auto flush = [&] {
    if (!frames.empty()) {
      std::string sig;
      for (std::size_t i = 0; i < frames.size() && i < 6; ++i) sig += (i ? " <- " : "") + frames[i];
      if (std::find(out.begin(), out.end(), sig) == out.end() && out.size() < max) out.push_back(sig);
    }
    frames.clear();
  };
  while (std::getline(in, line)) {
    auto start = line.find_first_not_of(' ');
    std::string_view t = start == std::string::npos ? std::string_view() : std::string_view(line).substr(start);
    if (t.rfind("=> ", 0) == 0) {
      if (!in_stack) continue;
      std::string fn(t.substr(3));
      fn = fn.substr(0, fn.find_first_of(" +"));
      if (!fn.empty() && !tracing_frame(fn)) frames.push_back(fn);
      continue;
    }
    flush();
    in_stack = t.find("<stack trace>") != std::string_view::npos;
  }
  flush();
  return out;
}

std::string kernel_object_name(const std::string& fault_name) {
  std::string out = "fb_";
  for (char c : fault_name) out.push_back(isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return out.substr(0, 60);
}

}  // namespace fb::agent
