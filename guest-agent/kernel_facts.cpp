#include "guest-agent/kernel_facts.h"

#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

namespace fb::agent {

namespace {

bool exists(const char* path) {
  struct stat st;
  return stat(path, &st) == 0;
}

}  // namespace

nlohmann::json collect_kernel_facts() {
  nlohmann::json facts;
  struct utsname u;
  uname(&u);
  facts["kernel_release"] = u.release;
  facts["kernel_version"] = u.version;
  facts["machine"] = u.machine;

  // Each entry: the interface name faultbox uses, and the path whose presence proves it.
  static const std::pair<const char*, const char*> kInterfaces[] = {
      {"failslab", "/sys/kernel/debug/failslab"},
      {"fail_page_alloc", "/sys/kernel/debug/fail_page_alloc"},
      {"fail_make_request", "/sys/kernel/debug/fail_make_request"},
      {"fail_io_timeout", "/sys/kernel/debug/fail_io_timeout"},
      {"fail_futex", "/sys/kernel/debug/fail_futex"},
      {"fail_usercopy", "/sys/kernel/debug/fail_usercopy"},
      {"fail_function", "/sys/kernel/debug/fail_function"},
      {"fail_nth", "/proc/self/fail-nth"},
      {"error_injection_list", "/sys/kernel/debug/error_injection/list"},
      {"scsi_debug", "/sys/bus/pseudo/drivers/scsi_debug"},
      {"null_blk", "/sys/module/null_blk"},
      {"lkdtm", "/sys/kernel/debug/provoke-crash"},
      {"kprobe_events", "/sys/kernel/tracing/kprobe_events"},
  };
  auto faults = nlohmann::json::array();
  for (auto& [name, path] : kInterfaces)
    if (exists(path)) faults.push_back(name);
  // device-mapper targets are listed by the kernel once dm is initialised
  std::ifstream dm("/proc/misc");
  std::string line;
  bool have_dm = false;
  while (std::getline(dm, line))
    if (line.find("device-mapper") != std::string::npos) have_dm = true;
  if (have_dm) {
    faults.push_back("dm_dust");
    faults.push_back("dm_flakey");
  }
  facts["faults"] = faults;

  // The kernel's error-injection list (what fail_function and bpf_override_return may fail);
  // fail_function/injectable prints the same list.
  auto injectable = nlohmann::json::array();
  std::ifstream inj("/sys/kernel/debug/error_injection/list");
  if (!inj) inj.open("/sys/kernel/debug/fail_function/injectable");
  while (std::getline(inj, line)) {
    std::istringstream ls(line);
    std::string fn, type;
    if (ls >> fn >> type) injectable.push_back({{"function", fn}, {"type", type}});
  }
  facts["injectable"] = injectable;
  return facts;
}

}  // namespace fb::agent
