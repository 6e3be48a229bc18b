#include "tests/support/libvirtd.h"

#include "tests/support/support.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>

#include <unistd.h>

namespace fb::test {

std::string private_libvirtd_script() { return std::string(FAULTBOX_SOURCE_DIR) + "/scripts/private-libvirtd"; }

Result<std::unique_ptr<PrivateLibvirtd>> PrivateLibvirtd::start() {
  if (geteuid() != 0)
    return make_error(ErrorKind::Infra, "the private libvirtd needs root (a mount namespace and the qemu:///system driver)");
  // Short: the socket path inside must fit a sockaddr_un.
  char tmpl[] = "/tmp/fb-lvd-XXXXXX";
  if (!mkdtemp(tmpl)) return make_error(ErrorKind::Infra, "mkdtemp: {}", strerror(errno));
  std::unique_ptr<PrivateLibvirtd> d(new PrivateLibvirtd());
  d->dir_ = tmpl;
  auto r = run({private_libvirtd_script(), "start", d->dir_.string()});
  std::string uri = r.out.substr(0, r.out.find('\n'));
  if (r.status.code != 0 || uri.rfind("qemu:///", 0) != 0)
    return make_error(ErrorKind::Infra, "private libvirtd did not start: {}", r.err);  // d stops what came up
  d->uri_ = uri;
  return d;
}

PrivateLibvirtd* PrivateLibvirtd::shared(std::string& why) {
  // A function-local static: destroyed (daemon stopped) when the test binary exits normally.
  static std::unique_ptr<PrivateLibvirtd> daemon;
  static std::string failure;
  if (daemon) return daemon.get();
  if (failure.empty()) {
    auto d = start();
    if (d) daemon = std::move(*d);
    else failure = d.error().message;
  }
  why = failure;
  return daemon.get();
}

PrivateLibvirtd::~PrivateLibvirtd() {
  // At exit, after other statics (run()'s among them) may be gone: a plain shell. Both paths
  // are ours and need no quoting beyond the single quotes (mkdtemp names, the source tree).
  std::string cmd = "'" + private_libvirtd_script() + "' stop '" + dir_.string() + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) fprintf(stderr, "warning: %s failed\n", cmd.c_str());
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::vector<std::string> PrivateLibvirtd::domains(bool all) const {
  std::vector<std::string> argv = {"virsh", "-q", "-c", uri_, "list", "--name"};
  if (all) argv.push_back("--all");
  auto r = run(argv);
  std::vector<std::string> out;
  std::istringstream lines(r.out);
  for (std::string l; std::getline(lines, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

}  // namespace fb::test
