#include "orchestrator/vm/session.h"

#include "common/clock.h"
#include "orchestrator/core/image_builder.h"
#include "orchestrator/core/kernel_builder.h"
#include "orchestrator/core/log.h"
#include "orchestrator/disks/disk_image.h"
#include "orchestrator/disks/root_image.h"
#include "protocol/protocol.h"
#include "orchestrator/vm/qemu.h"

#include <algorithm>
#include <csignal>

namespace fb {

namespace fs = std::filesystem;

static volatile sig_atomic_t g_vm_phase = 0;

static void on_signal(int sig) {
  if (g_vm_phase) {
    set_interrupted(sig);
    return;
  }
  // No VM to tear down: die as the signal would have made us; children die with us.
  signal(sig, SIG_DFL);
  raise(sig);
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

void set_vm_phase(bool active) { g_vm_phase = active ? 1 : 0; }

Result<fs::path> resolve_kernel(const std::string& kernel) {
  if (!kernel.empty()) {
    FB_TRY(check_kernel_image(kernel));
    return fs::absolute(kernel);
  }
  KernelBuildOptions ko;
  auto cached = find_cached_kernel(ko);
  if (!cached) return cached.error();
  if (*cached && (*cached)->damage.empty()) return (*cached)->bzimage;
  if (*cached)  // as a damaged cached image is: rebuilt, not booted
    progress("kernel: cached kernel {} is damaged ({}), rebuilding it", (*cached)->dir.string(), (*cached)->damage);
  else
    progress("kernel: no cached faultbox kernel yet, building it (4-7 min on 2 cores)");
  auto built = build_kernel(ko);
  if (!built) return built.error();
  return built->bzimage;
}

std::optional<ErrorInjectionList> error_injection_list_of(const AgentHello& hello) {
  auto offers = [&](const char* what) {
    return std::find(hello.faults.begin(), hello.faults.end(), what) != hello.faults.end();
  };
  if (!offers("error_injection_list") && !offers("fail_function")) return std::nullopt;
  ErrorInjectionList list{hello.kernel_release, "booted kernel", {}};
  for (auto& [name, type] : hello.injectable) list.functions.push_back({name, type});
  return list;
}

Result<std::optional<fs::path>> find_kernel(const std::string& kernel) {
  if (!kernel.empty()) {
    FB_TRY(check_kernel_image(kernel));
    return std::optional<fs::path>(fs::absolute(kernel));
  }
  auto cached = find_cached_kernel(KernelBuildOptions{});
  if (!cached) return cached.error();
  if (!*cached || !(*cached)->damage.empty()) return std::optional<fs::path>();  // a damaged one is rebuilt at boot
  return std::optional<fs::path>((*cached)->bzimage);
}

Result<fs::path> resolve_initrd(const std::string& initrd, const std::vector<std::string>& includes) {
  if (!initrd.empty()) {
    FB_TRY(check_boot_image(initrd));
    return fs::absolute(initrd);
  }
  ImageBuildOptions io;
  for (auto& i : includes) io.includes.emplace_back(i);
  auto img = build_image(io);
  if (!img) return img.error();
  return img->cpio;
}

// The disk root: the image's content in a cached ext4 image, booted through a fresh qcow2
// overlay in a private temp dir (janitor: gone even if faultbox is killed), so the cached
// image is never written and every run starts from the same root.
static Result<DiskSpec> prepare_disk_root(const SessionOptions& o, TempDir& overlay_dir) {
  ImageBuildOptions io;
  for (auto& i : o.includes) io.includes.emplace_back(i);
  auto root = prepare_root_image(io, o.root_size, o.root_size_origin);
  if (!root) return root.error();
  auto rt = runtime_root();
  if (!rt) return rt.error();
  auto dir = TempDir::create(*rt, "root-", /*janitor=*/true);
  if (!dir) return dir.error();
  overlay_dir = std::move(*dir);
  auto overlay = overlay_dir.path() / "root.qcow2";
  FB_TRY(create_overlay(root->image, "raw", overlay));
  return DiskSpec{overlay, "qcow2", proto::kRootDiskSerial, false};
}

// The agent as a host process (vm.h's fake backend): nothing to build, probe or resolve.
Result<std::unique_ptr<Session>> Session::boot_fake(const SessionOptions& o, std::unique_ptr<Backend> backend) {
  std::unique_ptr<Session> s(new Session());
  s->backend_ = std::move(backend);
  s->timeouts_ = Timeouts::for_accel(Accel::Kvm);
  VmSpec spec;
  spec.timeouts = s->timeouts_;
  spec.disks = o.disks;
  spec.disk_root = o.root == "disk";
  spec.extra_cmdline = o.extra_cmdline;
  FB_TRY(s->start_vm(spec));
  return s;
}

Status Session::start_vm(const VmSpec& spec) {
  set_vm_phase(true);
  auto vm = backend_->start(io_, spec);
  if (!vm) return vm.error();
  vm_ = std::move(*vm);
  agent_ = std::make_unique<AgentClient>(io_, *vm_, timeouts_);
  auto hello = agent_->connect();
  if (!hello) return hello.error();
  hello_ = *hello;
  return {};
}

Result<std::unique_ptr<Session>> Session::boot(const SessionOptions& o) {
  if (!o.connect_uri.empty() && o.backend != "libvirt")
    return make_error(ErrorKind::Usage, "a connect URI is for the libvirt backend, not {}", o.backend);
  BackendContext ctx;
  ctx.agent_binary = o.agent;
  ctx.agent_args = o.agent_args;
  ctx.connect_uri = o.connect_uri;
  auto backend = make_backend(o.backend, ctx);
  if (!backend) return backend.error();
  if (o.backend == "fake") return boot_fake(o, std::move(*backend));
  auto accel_req = parse_accel_request(o.accel);
  if (!accel_req) return accel_req.error();
  if (o.root != "initramfs" && o.root != "disk")
    return make_error(ErrorKind::Usage, "root must be initramfs or disk, not \"{}\"", o.root);
  bool disk_root = o.root == "disk";
  if (disk_root && !o.initrd.empty())
    return make_error(ErrorKind::Usage, "--initrd and a disk root exclude each other: the disk root boots without an initramfs");
  if (!disk_root && o.root_size)
    return make_error(ErrorKind::Usage, "{} is for a disk root (root = disk)", o.root_size_origin);
  auto kernel = resolve_kernel(o.kernel);
  if (!kernel) return kernel.error();
  std::unique_ptr<Session> s(new Session());
  std::optional<DiskSpec> root_disk;
  if (disk_root) {
    auto d = prepare_disk_root(o, s->root_overlay_dir_);
    if (!d) return d.error();
    root_disk = *d;
  }
  // The accelerator probe boots an initramfs either way; for a disk root the plain image does
  // (its includes may be what is too big for one).
  auto initrd = resolve_initrd(o.initrd, disk_root ? std::vector<std::string>{} : o.includes);
  if (!initrd) return initrd.error();
  auto qemu = qemu_binary();  // fail before the probe, with the install hint
  if (!qemu) return qemu.error();
  auto accel = choose_accel(*accel_req, *kernel, *initrd);
  if (!accel) return accel.error();
  progress("accel: {}", accel->reason);

  s->kernel_ = *kernel;
  s->timeouts_ = Timeouts::for_accel(accel->accel);
  VmSpec spec;
  spec.kernel = *kernel;
  spec.initrd = disk_root ? fs::path() : *initrd;
  spec.memory_mb = o.memory_mb;
  spec.cpus = o.cpus;
  spec.accel = accel->accel;
  spec.timeouts = s->timeouts_;
  spec.echo_console = o.echo_console;
  spec.name_hint = o.name_hint;
  // The root disk comes first, so it is /dev/vda whatever scenario disks follow.
  if (root_disk) spec.disks.push_back(*root_disk);
  spec.disks.insert(spec.disks.end(), o.disks.begin(), o.disks.end());
  spec.disk_root = disk_root;
  spec.extra_cmdline = o.extra_cmdline;
  spec.extra_qemu_args = o.extra_qemu_args;
  s->backend_ = std::move(*backend);
  auto t0 = std::chrono::steady_clock::now();
  FB_TRY(s->start_vm(spec));
  record_cached_kernel_digest(s->kernel_);  // an older cache entry, now shown intact, gets its size and sha256
  // Cached so that the next run or check can refuse a function outside it before booting.
  if (auto list = error_injection_list_of(s->hello_); list && !cached_error_injection_list(s->kernel_))
    if (auto st = cache_error_injection_list(s->kernel_, *list); !st)
      progress("warning: cannot cache the kernel's error-injection list: {}", st.error().message);
  progress("vm: up in {:.2f} s (kernel {}, {}, {} MiB{})",
           seconds_since(t0), s->hello_.kernel_release,
           to_string(accel->accel), o.memory_mb, disk_root ? ", disk root" : "");
  return s;
}

Status Session::shutdown() {
  if (!vm_ || vm_->exit_info()) return {};
  return agent_->shutdown();
}

Session::~Session() {
  agent_.reset();
  if (vm_) vm_->kill();
  vm_.reset();
  set_vm_phase(false);
}

}  // namespace fb
