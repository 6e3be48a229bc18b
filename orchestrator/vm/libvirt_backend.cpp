// The libvirt backend: one transient domain per VM, through the libvirt C API, so the same code
// drives a local daemon or one behind qemu+ssh://.
//
// Event loop: libvirt's event implementation is process-wide, and it must run all the time, not
// only while a run waits on its io_context: keepalives of a remote connection, stream I/O and
// domain events are all served by it, also while the engine is busy elsewhere (making disks,
// inspecting them). So faultbox registers libvirt's own default implementation once and runs it
// on one dedicated thread; everything that reaches a VM from there is posted to that VM's
// io_context (a run may have its own), and the VM's state is only touched on its io_context.
//
// Ports: each virtio-serial channel and the console are a non-blocking virStream
// (virDomainOpenChannel / virDomainOpenConsole), bridged on the event thread to one end of a
// socketpair; the VM hands out the other end as the same UnixSocket the qemu backend gives, so
// the agent client and the console reader stay backend-neutral.
#include "orchestrator/vm/libvirt_backend.h"

#include "common/fd.h"
#include "orchestrator/core/log.h"
#include "orchestrator/vm/libvirt_handles.h"
#include "orchestrator/vm/libvirt_storage.h"
#include "orchestrator/vm/port_listener.h"
#include "protocol/protocol.h"

#include <algorithm>
#include <atomic>
#include <fcntl.h>
#include <mutex>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace fb {

namespace {

constexpr std::size_t kConsoleKeepBytes = 8 << 20;
// Bytes a bridge holds in either direction before it stops reading more (back-pressure).
constexpr std::size_t kBridgeBufferBytes = 1 << 20;

void ignore_libvirt_error(void*, virErrorPtr) {}  // errors are read with virGetLastError, not printed

// Once per process: libvirt's default event loop on a thread of its own (see the file comment).
// The thread is detached: it only ever waits in libvirt's poll and dies with the process.
void start_libvirt_event_loop() {
  static std::once_flag once;
  std::call_once(once, [] {
    virSetErrorFunc(nullptr, ignore_libvirt_error);
    virEventRegisterDefaultImpl();
    std::thread([] {
      for (;;)
        if (virEventRunDefaultImpl() < 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }).detach();
  });
}

// One virStream <-> one end of a socketpair, served on libvirt's event thread. Each registered
// callback holds a reference (released by libvirt's free callback), so the bridge outlives any
// callback libvirt may still be dispatching when the VM closes it.
class StreamBridge : public std::enable_shared_from_this<StreamBridge> {
 public:
  StreamBridge(lv::Stream st, Fd fd) : st_(std::move(st)), fd_(std::move(fd)) {}

  Status start() {
    std::lock_guard lk(mu_);
    fcntl(fd_.get(), F_SETFL, fcntl(fd_.get(), F_GETFL) | O_NONBLOCK);
    if (virStreamEventAddCallback(st_.get(), VIR_STREAM_EVENT_READABLE, on_stream, new Ref(shared_from_this()),
                                  free_ref) < 0)
      return make_error(ErrorKind::Infra, "{}", lv::last_error("watch a libvirt stream"));
    stream_cb_ = true;
    watch_ = virEventAddHandle(fd_.get(), VIR_EVENT_HANDLE_READABLE, on_fd, new Ref(shared_from_this()), free_ref);
    if (watch_ < 0) return make_error(ErrorKind::Infra, "{}", lv::last_error("watch a stream's socket"));
    return {};
  }

  // From the VM's thread: no callback touches the stream after this returns.
  void close() {
    std::lock_guard lk(mu_);
    if (closed_) return;
    closed_ = true;
    if (stream_cb_) virStreamEventRemoveCallback(st_.get());
    if (watch_ >= 0) virEventRemoveHandle(watch_);
    virStreamAbort(st_.get());
  }

 private:
  using Ref = std::shared_ptr<StreamBridge>;
  static void free_ref(void* p) { delete static_cast<Ref*>(p); }

  static void on_stream(virStreamPtr, int events, void* opaque) {
    auto& b = **static_cast<Ref*>(opaque);
    std::lock_guard lk(b.mu_);
    if (b.closed_) return;
    if (events & VIR_STREAM_EVENT_READABLE) {
      char buf[65536];
      while (b.to_fd_.size() < kBridgeBufferBytes && !b.stream_eof_) {
        int n = virStreamRecv(b.st_.get(), buf, sizeof buf);
        if (n == -2) break;  // nothing more for now
        if (n <= 0) b.stream_eof_ = true;
        else b.to_fd_.append(buf, static_cast<std::size_t>(n));
      }
    }
    if (events & (VIR_STREAM_EVENT_HANGUP | VIR_STREAM_EVENT_ERROR)) b.stream_eof_ = true;
    if (events & VIR_STREAM_EVENT_WRITABLE) b.flush_to_stream();
    b.flush_to_fd();
    b.update();
  }

  static void on_fd(int, int, int events, void* opaque) {
    auto& b = **static_cast<Ref*>(opaque);
    std::lock_guard lk(b.mu_);
    if (b.closed_) return;
    if (events & VIR_EVENT_HANDLE_READABLE) {
      char buf[65536];
      ssize_t n = read(b.fd_.get(), buf, sizeof buf);
      if (n > 0) b.to_stream_.append(buf, static_cast<std::size_t>(n));
      else if (n == 0 || (errno != EAGAIN && errno != EINTR)) b.fd_eof_ = true;
    }
    if (events & (VIR_EVENT_HANDLE_HANGUP | VIR_EVENT_HANDLE_ERROR)) b.fd_eof_ = true;
    b.flush_to_fd();
    b.flush_to_stream();
    b.update();
  }

  void flush_to_fd() {
    while (!to_fd_.empty()) {
      ssize_t n = write(fd_.get(), to_fd_.data(), to_fd_.size());
      if (n <= 0) {
        if (n < 0 && errno != EAGAIN && errno != EINTR) to_fd_.clear();  // our side is gone
        break;
      }
      to_fd_.erase(0, static_cast<std::size_t>(n));
    }
    // The guest side ended and everything it sent is through: the reader sees end of file.
    if (stream_eof_ && to_fd_.empty() && !shut_) {
      shutdown(fd_.get(), SHUT_WR);
      shut_ = true;
    }
  }

  void flush_to_stream() {
    while (!to_stream_.empty() && !stream_eof_) {
      int n = virStreamSend(st_.get(), to_stream_.data(), to_stream_.size());
      if (n == -2) break;
      if (n < 0) {
        stream_eof_ = true;
        break;
      }
      to_stream_.erase(0, static_cast<std::size_t>(n));
    }
  }

  void update() {
    int se = 0;
    if (!stream_eof_ && to_fd_.size() < kBridgeBufferBytes) se |= VIR_STREAM_EVENT_READABLE;
    if (!stream_eof_ && !to_stream_.empty()) se |= VIR_STREAM_EVENT_WRITABLE;
    virStreamEventUpdateCallback(st_.get(), se);
    int fe = 0;
    if (!fd_eof_ && to_stream_.size() < kBridgeBufferBytes) fe |= VIR_EVENT_HANDLE_READABLE;
    if (!to_fd_.empty()) fe |= VIR_EVENT_HANDLE_WRITABLE;
    virEventUpdateHandle(watch_, fe);
  }

  std::mutex mu_;
  lv::Stream st_;
  Fd fd_;
  std::string to_fd_, to_stream_;
  bool stream_eof_ = false, fd_eof_ = false, shut_ = false, closed_ = false, stream_cb_ = false;
  int watch_ = -1;
};

// What libvirt's event thread may reach of a VM: its io_context, while the VM lives.
struct EventTarget {
  std::mutex mu;
  asio::io_context* io = nullptr;
  std::function<void(int event, int detail)> on_lifecycle;  // runs on the io_context
};

void on_lifecycle_event(virConnectPtr, virDomainPtr, int event, int detail, void* opaque) {
  auto target = *static_cast<std::shared_ptr<EventTarget>*>(opaque);
  std::lock_guard lk(target->mu);
  if (!target->io) return;
  asio::post(*target->io, [target, event, detail] {
    if (target->on_lifecycle) target->on_lifecycle(event, detail);
  });
}

const char* stopped_detail(int detail) {
  switch (detail) {
    case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN: return "the guest shut down or rebooted";
    case VIR_DOMAIN_EVENT_STOPPED_DESTROYED: return "destroyed";
    case VIR_DOMAIN_EVENT_STOPPED_CRASHED: return "guest panicked (pvpanic)";
    case VIR_DOMAIN_EVENT_STOPPED_FAILED: return "QEMU failed";
    default: return "stopped";
  }
}

class LibvirtVm final : public Vm {
 public:
  LibvirtVm(asio::io_context& io, VmSpec spec, virConnectPtr conn, std::string uri, DomainFiles& files)
      : io_(io), spec_(std::move(spec)), conn_(conn), uri_(std::move(uri)), files_(files), exit_timer_(io),
        work_(asio::make_work_guard(io)) {}
  ~LibvirtVm() override { LibvirtVm::kill(); }

  Status start(const std::string& name) {
    name_ = name;
    StagedFiles staged;
    auto k = files_.stage_input(spec_.kernel);
    if (!k) return k.error();
    staged.kernel = *k;
    if (!spec_.initrd.empty()) {
      auto i = files_.stage_input(spec_.initrd);
      if (!i) return i.error();
      staged.initrd = *i;
    }
    for (auto& d : spec_.disks) {
      auto p = d.read_only ? files_.stage_input(d.file) : files_.stage_writable(d.file);
      if (!p) return p.error();
      staged.disks.push_back(*p);
      if (!d.read_only) writable_.emplace_back(*p, d.file);
    }
    auto xml = domain_xml(spec_, name_, LibvirtOwner::self(), staged);
    if (!xml) return xml.error();
    debug("libvirt: domain XML:\n{}", *xml);
    // Paused until its console and channels are open, so no early byte is lost. AUTODESTROY:
    // the daemon destroys it when our connection closes, which a SIGKILL of faultbox does too.
    dom_.reset(virDomainCreateXML(conn_, xml->c_str(), VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_AUTODESTROY));
    if (!dom_) return make_error(ErrorKind::Infra, "{}", lv::last_error("start domain " + name_ + " on " + uri_));
    note("domain {} started (paused) on {}", name_, uri_);

    target_ = std::make_shared<EventTarget>();
    target_->io = &io_;
    target_->on_lifecycle = [this](int event, int detail) { on_lifecycle(event, detail); };
    event_cb_ = virConnectDomainEventRegisterAny(conn_, dom_.get(), VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                 VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle_event),
                                                 new std::shared_ptr<EventTarget>(target_),
                                                 [](void* p) { delete static_cast<std::shared_ptr<EventTarget>*>(p); });
    if (event_cb_ < 0) return make_error(ErrorKind::Infra, "{}", lv::last_error("watch domain " + name_ + "'s events"));

    auto console = open_bridge(nullptr);
    if (!console) return console.error();
    console_ = std::move(*console);
    auto control = open_bridge(proto::kControlPortName);
    if (!control) return control.error();
    control_ = std::move(*control);
    auto trace = open_bridge(proto::kTracePortName);
    if (!trace) return trace.error();
    trace_ = std::move(*trace);
    read_forever(*console_, std::make_shared<std::array<char, 65536>>(), [this](std::string_view d) { on_console(d); },
                 [this] {
                   console_eof_ = true;
                   maybe_finish_exit();
                 });
    if (virDomainResume(dom_.get()) < 0)
      return make_error(ErrorKind::Infra, "{}", lv::last_error("resume domain " + name_));
    return {};
  }

  UnixSocket& control() override { return *control_; }
  UnixSocket& trace() override { return *trace_; }
  const std::string& console() const override { return console_text_; }
  std::optional<VmExit> exit_info() const override { return exit_; }
  bool guest_panicked() const override { return guest_panicked_; }
  const std::string& host_log() const override { return log_; }
  std::filesystem::path runtime_dir() const override { return {}; }  // nothing of it is on this host's disk

  Status send_sysrq(char key) override {
    if (exit_ || !dom_) return make_error(ErrorKind::Infra, "VM gone");
    auto code = linux_keycode(key);
    if (!code) return make_error(ErrorKind::Infra, "no key for sysrq '{}'", key);
    // KEY_LEFTALT, KEY_SYSRQ, the key: the chord the qemu backend presses through QMP send-key.
    unsigned int keys[] = {56, 99, *code};
    if (virDomainSendKey(dom_.get(), VIR_KEYCODE_SET_LINUX, 100, keys, 3, 0) < 0)
      return make_error(ErrorKind::Infra, "{}", lv::last_error("send Alt+SysRq+" + std::string(1, key)));
    return {};
  }

  bool wait_exit(std::chrono::milliseconds timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exit_ && std::chrono::steady_clock::now() < deadline) io_.run_one_for(std::chrono::milliseconds(20));
    while (exit_ && io_.poll() > 0) {
    }
    return exit_.has_value();
  }

  void kill() override {
    // Also after a crash that ended the VM for us: libvirt may still be destroying it.
    if (dom_ && !libvirt_stopped_) {
      if (virDomainDestroy(dom_.get()) < 0) {
        // Already gone (it ended by itself a moment ago): that is what kill wants.
        virErrorPtr e = virGetLastError();
        if (e && e->code != VIR_ERR_OPERATION_INVALID && e->code != VIR_ERR_NO_DOMAIN)
          note("destroy {}: {}", name_, e->message ? e->message : "?");
      }
    }
    if (dom_ && !exit_) exit_ = VmExit{ExitStatus{-1, SIGKILL}, guest_panicked_, "killed by faultbox"};
    teardown();
  }

  std::string describe() const override {
    return fmt::format("libvirt domain {} on {} ({}, {} MiB, {} cpu)", name_, uri_.empty() ? "the default URI" : uri_,
                       to_string(spec_.accel), spec_.memory_mb, spec_.cpus);
  }

 private:
  template <typename... Args>
  void note(fmt::format_string<Args...> f, Args&&... args) {
    std::string line = fmt::format(f, std::forward<Args>(args)...);
    debug("libvirt: {}", line);
    log_ += "libvirt: " + line + "\n";
  }

  // port == nullptr: the serial console.
  Result<std::unique_ptr<UnixSocket>> open_bridge(const char* port) {
    std::string what = port ? fmt::format("channel {} of {}", port, name_) : "console of " + name_;
    lv::Stream st(virStreamNew(conn_, VIR_STREAM_NONBLOCK));
    if (!st) return make_error(ErrorKind::Infra, "{}", lv::last_error("new stream"));
    int rc = port ? virDomainOpenChannel(dom_.get(), port, st.get(), VIR_DOMAIN_CHANNEL_FORCE)
                  : virDomainOpenConsole(dom_.get(), nullptr, st.get(), VIR_DOMAIN_CONSOLE_FORCE);
    if (rc < 0) return make_error(ErrorKind::Infra, "{}", lv::last_error("open " + what));
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      return make_error(ErrorKind::Infra, "socketpair: {}", strerror(errno));
    auto bridge = std::make_shared<StreamBridge>(std::move(st), Fd(sv[1]));
    auto sock = std::make_unique<UnixSocket>(io_);
    sock->assign(asio::local::stream_protocol(), sv[0]);
    FB_TRY(bridge->start());
    bridges_.push_back(bridge);
    return sock;
  }

  void on_console(std::string_view d) {
    if (spec_.echo_console) write_all(2, d.data(), d.size());
    console_text_.append(d);
    if (console_text_.size() > kConsoleKeepBytes) console_text_.erase(0, console_text_.size() - kConsoleKeepBytes / 2);
  }

  void on_lifecycle(int event, int detail) {
    if (event == VIR_DOMAIN_EVENT_CRASHED) {
      // The panic device's word: known at once. QEMU paused the guest at its panic, after the
      // report went out on the console, so the VM has ended once the bytes still on their way
      // through the daemon are in; libvirt's own on_crash destroy takes over a second more.
      guest_panicked_ = true;
      note("event: crashed (guest panicked)");
      exit_timer_.expires_after(std::chrono::milliseconds(300));
      exit_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        stopped_ = console_eof_ = true;
        maybe_finish_exit();
      });
      return;
    }
    if (event != VIR_DOMAIN_EVENT_STOPPED) return;
    libvirt_stopped_ = true;
    if (stopped_) return;
    stopped_ = true;
    stopped_detail_ = detail;
    if (detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED) guest_panicked_ = true;
    note("event: stopped ({})", stopped_detail(detail));
    // The console's last bytes (the end of a crash report) may still be on their way through
    // the daemon: the VM has ended once they are in, or after half a second at most.
    exit_timer_.expires_after(std::chrono::milliseconds(500));
    exit_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      console_eof_ = true;
      maybe_finish_exit();
    });
    maybe_finish_exit();
  }

  void maybe_finish_exit() {
    if (exit_ || !stopped_ || !console_eof_) return;
    exit_timer_.cancel();
    if (guest_panicked_) {
      exit_ = VmExit{ExitStatus{0, 0}, true, "guest panicked (pvpanic)"};
    } else if (stopped_detail_ == VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN) {
      exit_ = VmExit{ExitStatus{0, 0}, false, "the guest shut down or rebooted"};
    } else {
      // Destroyed by someone else or QEMU died: not something the guest kernel did.
      exit_ = VmExit{ExitStatus{-1, SIGKILL}, false, fmt::format("domain {} {}", name_, stopped_detail(stopped_detail_))};
    }
  }

  void teardown() {
    if (target_) {
      std::lock_guard lk(target_->mu);
      target_->io = nullptr;
    }
    if (event_cb_ >= 0) virConnectDomainEventDeregisterAny(conn_, event_cb_);
    event_cb_ = -1;
    if (target_) target_->on_lifecycle = nullptr;  // a lifecycle event already posted finds no VM
    for (auto& b : bridges_) b->close();
    bridges_.clear();
    boost::system::error_code ec;
    for (auto* s : {control_.get(), trace_.get(), console_.get()})
      if (s) s->close(ec);
    exit_timer_.cancel();
    // Written disks come back to where the engine inspects them (nothing to do for local paths).
    for (auto& [staged, local] : writable_)
      if (auto st = files_.fetch_writable(staged, local); !st) {
        // The local overlay still holds the disk as it was before the run: gone, the inspection
        // fails (infra) instead of judging a disk the guest never wrote.
        note("fetch {}: {}", local.string(), st.error().message);
        std::error_code ec;
        std::filesystem::remove(local, ec);
      }
    writable_.clear();
    dom_.reset();
    work_.reset();
  }

  asio::io_context& io_;
  VmSpec spec_;
  virConnectPtr conn_;
  std::string uri_;
  DomainFiles& files_;
  std::string name_;
  lv::Domain dom_;
  std::shared_ptr<EventTarget> target_;
  int event_cb_ = -1;
  std::vector<std::shared_ptr<StreamBridge>> bridges_;
  std::unique_ptr<UnixSocket> control_, trace_, console_;
  std::vector<std::pair<std::string, std::filesystem::path>> writable_;
  std::string console_text_, log_;
  std::optional<VmExit> exit_;
  asio::steady_timer exit_timer_;
  // Events arrive by asio::post from libvirt's thread: the io_context must not run out of work
  // (and stop) while the VM waits for them with nothing else pending.
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  bool guest_panicked_ = false, stopped_ = false, console_eof_ = false;
  bool libvirt_stopped_ = false;  // libvirt said the domain stopped (stopped_ may be ours, after a crash)
  int stopped_detail_ = 0;
};

class LibvirtBackend final : public Backend {
 public:
  LibvirtBackend(lv::Connect conn, std::string uri, std::unique_ptr<DomainFiles> files)
      : conn_(std::move(conn)), uri_(std::move(uri)), files_(std::move(files)) {}
  const char* name() const override { return "libvirt"; }

  Result<std::unique_ptr<Vm>> start(asio::io_context& io, const VmSpec& spec) override {
    static std::atomic<unsigned> counter{0};
    if (!spec.extra_qemu_args.empty())
      return make_error(ErrorKind::Usage, "extra QEMU arguments are for the qemu backend, not libvirt");
    auto vm = std::make_unique<LibvirtVm>(io, spec, conn_.get(), uri_, *files_);
    auto st = vm->start(domain_name(spec.name_hint, getpid(), ++counter));
    if (!st) {
      vm->kill();
      return st.error();
    }
    return std::unique_ptr<Vm>(std::move(vm));
  }

 private:
  lv::Connect conn_;
  std::string uri_;
  std::unique_ptr<DomainFiles> files_;
};

}  // namespace

Result<lv::Connect> libvirt_connect(const std::string& uri) {
  start_libvirt_event_loop();
  lv::Connect conn(virConnectOpen(uri.empty() ? nullptr : uri.c_str()));
  if (!conn) {
    std::string why =
        lv::last_error("libvirt: cannot connect to " + (uri.empty() ? std::string("the default URI") : uri));
    // ssh and the remote shell may add lines of their own: one line is the promise.
    std::replace(why.begin(), why.end(), '\n', ' ');
    while (!why.empty() && why.back() == ' ') why.pop_back();
    return make_error(ErrorKind::Infra, "{}", why);
  }
  // A remote daemon that stops answering is noticed within ~15 s instead of never.
  virConnectSetKeepAlive(conn.get(), 5, 3);
  return conn;
}

bool libvirt_uri_is_remote(const std::string& uri) {
  auto colon = uri.find("://");
  if (colon == std::string::npos) return false;  // empty (libvirt's default) or a bare name: local
  // qemu+ssh://, +tcp, +tls, +libssh...: a transport to another machine, even to 127.0.0.1
  // (the files are not shared just because the address is); +unix and plain qemu:// with no
  // host part are this machine's daemon.
  std::string scheme = uri.substr(0, colon);
  auto plus = scheme.find('+');
  if (plus != std::string::npos && scheme.substr(plus + 1) != "unix") return true;
  return colon + 3 < uri.size() && uri[colon + 3] != '/';
}

Result<unsigned> destroy_orphan_domains(virConnectPtr conn) {
  virDomainPtr* doms = nullptr;
  int n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
  if (n < 0) return make_error(ErrorKind::Infra, "{}", lv::last_error("libvirt: list domains"));
  unsigned destroyed = 0;
  for (int i = 0; i < n; ++i) {
    lv::Domain d(doms[i]);
    const char* name = virDomainGetName(d.get());
    if (!name || std::string_view(name).rfind(kDomainNamePrefix, 0) != 0) continue;
    char* meta = virDomainGetMetadata(d.get(), VIR_DOMAIN_METADATA_ELEMENT, kOwnerXmlns, 0);
    if (!meta) continue;  // not one of ours after all
    auto owner = parse_owner_metadata(meta);
    free(meta);
    if (!owner || !owner->gone()) continue;
    if (virDomainDestroy(d.get()) == 0) {
      ++destroyed;
      progress("libvirt: destroyed domain {} left by faultbox process {}, which is gone", name, owner->pid);
    }
  }
  free(doms);
  return destroyed;
}

Result<std::unique_ptr<Backend>> make_libvirt_backend(const BackendContext& ctx) {
  auto conn = libvirt_connect(ctx.connect_uri);
  if (!conn) return conn.error();
  if (auto swept = destroy_orphan_domains(conn->get()); !swept) return swept.error();
  std::unique_ptr<DomainFiles> files;
  if (ctx.domain_files) {
    auto f = ctx.domain_files(conn->get());
    if (!f) return f.error();
    files = std::move(*f);
  } else if (libvirt_uri_is_remote(ctx.connect_uri)) {
    // The host shares no files with us: they go through its faultbox pool (docs/architecture.md).
    auto store = VolumeStore::open(conn->get());
    if (!store) return store.error();
    auto removed = store->remove_orphans();
    if (!removed) return removed.error();
    if (*removed) progress("libvirt: removed {} volume(s) left by faultbox processes that are gone", *removed);
    files = std::make_unique<PoolDomainFiles>(std::move(*store));
  } else {
    files = local_domain_files();
  }
  return std::unique_ptr<Backend>(std::make_unique<LibvirtBackend>(std::move(*conn), ctx.connect_uri, std::move(files)));
}

}  // namespace fb
