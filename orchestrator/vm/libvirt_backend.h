#pragma once
// The libvirt backend's pure parts, apart from the backend itself so unit tests reach them:
// the domain XML a VmSpec becomes, the owner record a domain carries in its metadata, and the
// rule that says a domain is an orphan of a dead faultbox process.
#include "common/result.h"
#include "orchestrator/vm/libvirt_handles.h"
#include "orchestrator/vm/libvirt_owner.h"
#include "orchestrator/vm/vm.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace fb {

// Every domain faultbox starts is named "faultbox-<hint>-<pid>-<n>"; orphan cleanup looks only
// at names with this prefix (and then at the owner record).
inline constexpr const char* kDomainNamePrefix = "faultbox-";
// The namespace of faultbox's <metadata> element (virDomainGetMetadata looks it up by this).
inline constexpr const char* kOwnerXmlns = "urn:faultbox:owner:1";

// The owner record back from the <owner .../> element virDomainGetMetadata returns; a domain
// is an orphan when that owner is gone (LibvirtOwner::gone: the same rule as for volumes).
std::optional<LibvirtOwner> parse_owner_metadata(const std::string& xml);

// "faultbox-<hint>-<pid>-<n>", the hint cut to what libvirt and `virsh list` show well
// ([A-Za-z0-9._-], at most 40 characters; "vm" when nothing is left).
std::string domain_name(const std::string& hint, long pid, unsigned n);

// The paths the daemon's host sees for a spec's files (DomainFiles::stage_* results).
struct StagedFiles {
  std::string kernel, initrd;
  std::vector<std::string> disks;  // one per VmSpec::disks
};

// The transient domain for a spec: the same machine, CPU, devices and kernel command line as
// the qemu backend's (qemu_machine_args, qemu_disk_args, guest_kernel_cmdline).
Result<std::string> domain_xml(const VmSpec& spec, const std::string& name, const LibvirtOwner& owner,
                               const StagedFiles& files);

// Linux input keycode (VIR_KEYCODE_SET_LINUX) of a sysrq key: digits and lowercase letters.
std::optional<unsigned> linux_keycode(char key);

// The one seam between a domain and where its files live. The local daemon reads faultbox's
// own paths (identity, the default); a remote host gets them from a storage pool (the
// VolumeStore plugs in here). Writable disks are staged before the domain starts and fetched
// back after it is gone, so post-run inspection reads them locally.
class DomainFiles {
 public:
  virtual ~DomainFiles() = default;
  // A file the guest only reads (kernel, initrd, read-only disk): its path on the daemon's host.
  virtual Result<std::string> stage_input(const std::filesystem::path& local) = 0;
  // A disk the guest writes: its path on the daemon's host.
  virtual Result<std::string> stage_writable(const std::filesystem::path& local) = 0;
  // After the domain is gone: the disk's written content back into `local`.
  virtual Status fetch_writable(const std::string& staged, const std::filesystem::path& local) = 0;
};
std::unique_ptr<DomainFiles> local_domain_files();

// Opens a connection (empty uri: libvirt's default), starting libvirt's event loop first; on
// failure one line (Infra): "libvirt: cannot connect to URI: why". libvirt's own printing of
// errors on stderr is off: faultbox says them.
Result<lv::Connect> libvirt_connect(const std::string& uri);
// Whether a URI names a daemon on another machine (a transport such as +ssh, or a host part):
// such a host shares no files with us, so the backend stages them through its storage pool.
bool libvirt_uri_is_remote(const std::string& uri);
// Destroys the running faultbox domains whose owner is gone (LibvirtOwner::gone); how many.
Result<unsigned> destroy_orphan_domains(virConnectPtr conn);

}  // namespace fb
