#include "guest-agent/step_cgroup.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace fb::agent {

namespace {

std::vector<std::string>& leftovers() {
  static std::vector<std::string> paths;
  return paths;
}

// The step's cgroup and its target child; false while a process is still in one of them.
bool remove_tree(const std::string& path) {
  if (rmdir((path + "/target").c_str()) != 0 && errno == EBUSY) return false;
  return rmdir(path.c_str()) == 0 || errno != EBUSY;
}

}  // namespace

Result<StepCgroup> StepCgroup::create(const std::string& root, std::uint32_t channel) {
  if (mkdir(root.c_str(), 0755) != 0 && errno != EEXIST)
    return make_error(ErrorKind::Infra, "mkdir {}: {}", root, strerror(errno));
  StepCgroup cg;
  std::string path = root + "/step-" + std::to_string(channel);
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
    return make_error(ErrorKind::Infra, "mkdir {}: {}", path, strerror(errno));
  cg.path_ = path;  // from here on the destructor removes it
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return make_error(ErrorKind::Infra, "stat {}: {}", path, strerror(errno));
  cg.id_ = st.st_ino;
  std::string target = path + "/target";
  if (mkdir(target.c_str(), 0755) != 0 && errno != EEXIST)
    return make_error(ErrorKind::Infra, "mkdir {}: {}", target, strerror(errno));
  if (stat(target.c_str(), &st) != 0) return make_error(ErrorKind::Infra, "stat {}: {}", target, strerror(errno));
  cg.target_id_ = st.st_ino;
  cg.procs_.reset(open((path + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
  if (!cg.procs_) return make_error(ErrorKind::Infra, "open {}/cgroup.procs: {}", path, strerror(errno));
  return cg;
}

StepCgroup::StepCgroup(StepCgroup&& o) noexcept
    : path_(std::exchange(o.path_, {})),
      id_(std::exchange(o.id_, 0)),
      target_id_(std::exchange(o.target_id_, 0)),
      procs_(std::move(o.procs_)) {}

StepCgroup& StepCgroup::operator=(StepCgroup&& o) noexcept {
  if (this != &o) {
    remove();
    path_ = std::exchange(o.path_, {});
    id_ = std::exchange(o.id_, 0);
    target_id_ = std::exchange(o.target_id_, 0);
    procs_ = std::move(o.procs_);
  }
  return *this;
}

StepCgroup::~StepCgroup() { remove(); }

void StepCgroup::remove() {
  procs_.reset();
  if (path_.empty()) return;
  if (!remove_tree(path_)) leftovers().push_back(path_);
  path_.clear();
}

void remove_leftover_step_cgroups() { std::erase_if(leftovers(), remove_tree); }

}  // namespace fb::agent
