#include "guest-agent/sysfs_text.h"

#include "common/fd.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <sstream>

namespace fb::agent {

Status write_text(const std::string& path, const std::string& value, int flags) {
  Fd fd(open(path.c_str(), flags | O_CLOEXEC));
  if (!fd) return Error{ErrorKind::Infra, "open " + path + ": " + strerror(errno)};
  if (!write_all(fd.get(), value.data(), value.size()))
    return Error{ErrorKind::Infra, "write '" + value + "' to " + path + ": " + strerror(errno)};
  return {};
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') out.emplace_back(e->d_name);
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace fb::agent
