#include "orchestrator/core/kernel_builder.h"

#include "common/clock.h"
#include "common/fd.h"
#include "common/files.h"
#include "common/process.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/error_injection.h"
#include "orchestrator/core/install_paths.h"
#include "orchestrator/core/kconfig.h"
#include "orchestrator/core/log.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace fb {

namespace fs = std::filesystem;

// Bump when the build procedure changes in a way that changes the kernel it produces.
static constexpr const char* kBuilderVersion = "faultbox-kernel-builder-1";

fs::path default_kernel_source() {
  if (const char* s = getenv("FAULTBOX_KERNEL_SOURCE"); s && *s) return s;
  return "/usr/src/linux-source-6.1.tar.xz";
}

namespace {

struct ResolvedInputs {
  fs::path source;  // absolute
  bool source_is_dir = false;
  bool source_is_git = false;  // cached by commit like a tarball, built in place like a dir
  std::string source_identity;
  std::vector<KconfigFile> fragments;  // ours, in merge order
  std::string base_config_text;        // empty: tinyconfig + kvm_guest
  std::string hash;
};

// git's stdout, trailing newline cut; an error when git fails.
Result<std::string> git_output(const fs::path& dir, std::vector<std::string> args) {
  std::vector<std::string> argv = {"git", "-C", dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_capture(argv);
  if (!r) return r.error();
  if (!r->status.exited_normally() || r->status.code != 0)
    return make_error(ErrorKind::Usage, "git {} in {}: {}", args.front(), dir.string(), r->status.describe());
  while (!r->output.empty() && r->output.back() == '\n') r->output.pop_back();
  return r->output;
}

}  // namespace

Result<SourceIdentity> identify_source_dir(const fs::path& dir) {
  SourceIdentity id;
  id.text = "dir:" + dir.string();
  if (find_in_path("git").empty()) return id;
  // Only the top of a work tree: a kernel tree inside some other repository is just a dir.
  auto top = git_output(dir, {"rev-parse", "--show-toplevel"});
  std::error_code ec;
  if (!top || !fs::equivalent(*top, dir, ec)) return id;
  auto head = git_output(dir, {"rev-parse", "--verify", "HEAD^{commit}"});
  if (!head) return id;  // no commit yet
  id.is_git = true;
  id.commit = *head;
  id.text = "git:" + *head;
  auto status = git_output(dir, {"status", "--porcelain", "--untracked-files=normal"});
  if (!status) return status.error();
  if (status->empty()) return id;
  // Dirty: the changes are part of the key, so an edit is a new kernel and undoing it finds
  // the old one again.
  id.dirty = true;
  auto diff = git_output(dir, {"diff", "HEAD", "--binary"});
  if (!diff) return diff.error();
  Sha256 h;
  h.field(*diff);
  auto untracked = git_output(dir, {"ls-files", "--others", "--exclude-standard", "-z"});
  if (!untracked) return untracked.error();
  std::string_view rest = *untracked;
  while (!rest.empty()) {
    auto end = rest.find('\0');
    std::string name(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    auto text = read_file(dir / name);
    h.field(name).field(text ? *text : std::string("(unreadable)"));
  }
  id.text += ":dirty:" + h.hex().substr(0, 16);
  return id;
}

namespace {

// The source's path and identity: a given commit, a tarball, a git work tree or a plain dir.
Status resolve_source(const KernelBuildOptions& opts, ResolvedInputs& in) {
  std::error_code ec;
  if (!opts.git_commit.empty()) {  // the caller checks the commit out before building
    in.source = opts.source.empty() ? fs::path() : fs::absolute(opts.source, ec);
    in.source_is_dir = in.source_is_git = true;
    in.source_identity = "git:" + opts.git_commit;
    return {};
  }
  fs::path src = opts.source.empty() ? default_kernel_source() : opts.source;
  if (!fs::exists(src, ec)) {
    if (opts.source.empty())
      return make_error(ErrorKind::Usage, "kernel source {} not found (apt-get install linux-source-6.1, or pass --source)",
                        src.string());
    return make_error(ErrorKind::Usage, "kernel source {} not found", src.string());
  }
  in.source = fs::canonical(src, ec);
  in.source_is_dir = fs::is_directory(in.source);
  if (in.source_is_dir) {
    if (!fs::exists(in.source / "Makefile") || !fs::exists(in.source / "Kconfig"))
      return make_error(ErrorKind::Usage, "{} is not a kernel source tree (no Makefile/Kconfig)", in.source.string());
    auto id = identify_source_dir(in.source);
    if (!id) return id.error();
    in.source_identity = id->text;
    in.source_is_git = id->is_git;
  } else {
    struct stat st;
    stat(in.source.c_str(), &st);
    in.source_identity = fmt::format("tarball:{}:{}:{}", in.source.string(), st.st_size, st.st_mtime);
  }
  return {};
}

Result<ResolvedInputs> resolve_inputs(const KernelBuildOptions& opts) {
  ResolvedInputs in;
  std::error_code ec;
  FB_TRY(resolve_source(opts, in));

  fs::path frag_dir = opts.fragment_dir;
  if (frag_dir.empty()) {
    auto d = kconfig_dir();
    if (!d) return d.error();
    frag_dir = *d;
  }
  std::vector<fs::path> frag_paths;
  for (auto& e : fs::directory_iterator(frag_dir, ec))
    if (e.path().extension() == ".config") frag_paths.push_back(e.path());
  if (ec) return make_error(ErrorKind::Usage, "kconfig fragment directory {}: {}", frag_dir.string(), ec.message());
  std::sort(frag_paths.begin(), frag_paths.end());
  // base first, so the others can override it; then the rest in name order
  std::stable_partition(frag_paths.begin(), frag_paths.end(),
                        [](const fs::path& p) { return p.filename() == "base.config"; });
  for (auto& p : opts.extra_fragments) frag_paths.push_back(p);
  if (frag_paths.empty()) return make_error(ErrorKind::Usage, "no *.config fragments in {}", frag_dir.string());
  for (auto& p : frag_paths) {
    auto f = load_kconfig(p);
    if (!f) return f.error();
    in.fragments.push_back(std::move(*f));
  }
  if (!opts.base_config.empty()) {
    auto base = load_kconfig(opts.base_config);
    if (!base) return base.error();
    in.base_config_text = base->text;
  }

  Sha256 h;
  h.field(kBuilderVersion).field(in.source_identity).field(in.base_config_text.empty() ? "tinyconfig+kvm_guest" : "user");
  h.field(in.base_config_text);
  for (auto& f : in.fragments) h.field(f.path.filename().string()).field(f.text);
  in.hash = h.hex().substr(0, 16);
  return in;
}

// meta.json's record of the bzImage, written at build time; entries from before lack it.
constexpr const char* kMetaBzimageSize = "bzimage_size";
constexpr const char* kMetaBzimageSha256 = "bzimage_sha256";

// Why the bzImage in dir cannot be booted ("" when it can), checked against what meta recorded.
// The size is checked first (a cut file is the usual damage); the hash of a 5 MiB bzImage costs
// about 15 ms, so it is checked every time rather than cached by stat identity.
std::string bzimage_damage(const fs::path& dir, const nlohmann::json& meta) {
  fs::path bz = dir / "bzImage";
  std::error_code ec;
  auto size = fs::file_size(bz, ec);
  if (ec) return "bzImage: " + ec.message();
  if (auto it = meta.find(kMetaBzimageSize); it != meta.end() && it->is_number_unsigned() &&
                                              it->get<std::uintmax_t>() != size)
    return fmt::format("bzImage is {} bytes, meta.json recorded {}", size, it->get<std::uintmax_t>());
  if (auto st = check_kernel_image(bz); !st) return st.error().message;
  if (auto it = meta.find(kMetaBzimageSha256); it != meta.end() && it->is_string()) {
    auto t0 = std::chrono::steady_clock::now();
    auto h = sha256_file(bz);
    if (!h) return "bzImage: " + h.error().message;
    debug("kernel: sha256 of {} ({} bytes) in {:.1f} ms", bz.string(), size, seconds_since(t0) * 1000);
    if (*h != it->get<std::string>()) return "bzImage's sha256 is not the one meta.json recorded at build time";
  }
  return "";
}

// The cache entry in dir; `damage` says why it cannot be used, when it cannot.
KernelArtifact load_artifact(const fs::path& dir, const std::string& hash) {
  KernelArtifact a;
  a.dir = dir;
  a.bzimage = dir / "bzImage";
  a.config = dir / "config";
  a.hash = hash;
  a.from_cache = true;
  auto meta = read_file(dir / "meta.json");
  if (!meta) {
    a.damage = "meta.json: " + meta.error().message;
    return a;
  }
  auto j = nlohmann::json::parse(*meta, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    a.damage = meta->empty() ? "meta.json is empty" : "meta.json is not a JSON object";
    return a;
  }
  a.release = j.value("release", "");
  a.damage = bzimage_damage(dir, j);
  return a;
}

// Serialises builds that share a build tree; the lock goes with the fd.
Result<Fd> lock_file(const fs::path& path) {
  Fd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) return make_error(ErrorKind::Infra, "{}: {}", path.string(), strerror(errno));
  if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    progress("kernel: waiting for another build using {}", path.parent_path().string());
    if (flock(fd.get(), LOCK_EX) != 0) return make_error(ErrorKind::Infra, "flock {}: {}", path.string(), strerror(errno));
  }
  return fd;
}

std::string tail_lines(const std::string& text, int n) {
  std::size_t pos = text.size();
  for (int i = 0; i <= n && pos != std::string::npos && pos > 0; ++i) pos = text.rfind('\n', pos - 1);
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

// Runs one make step with its output appended to log_path; on failure the error carries the
// log's tail. make runs in a process group of its own, so a cancel reaches every compiler.
Status run_logged(const std::vector<std::string>& argv, const fs::path& log_path, const std::string& what,
                  const std::vector<std::string>& env_extra = {}, const std::function<bool()>& cancelled = {}) {
  Fd log(open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!log) return make_error(ErrorKind::Infra, "{}: {}", log_path.string(), strerror(errno));
  std::string cmdline;
  for (auto& a : argv) cmdline += a + " ";
  std::string header = "\n$ " + cmdline + "\n";
  write_all(log.get(), header.data(), header.size());
  SpawnOptions so;
  so.stdout_fd = log.get();
  so.stderr_fd = log.get();
  so.new_process_group = static_cast<bool>(cancelled);
  if (!env_extra.empty()) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    for (auto& e : env_extra) env.push_back(e);
    so.env = env;
  }
  auto child = ChildProcess::spawn(argv, so);
  if (!child) return child.error();
  ExitStatus st;
  if (!cancelled) {
    st = child->wait();
  } else {
    for (;;) {
      if (auto s = child->try_wait()) {
        st = *s;
        break;
      }
      if (cancelled()) {
        // SIGINT first: make deletes the targets it was writing, so no cut object file looks
        // up to date at the next build; then SIGKILL if it lingers.
        child->signal(SIGINT);
        auto t0 = std::chrono::steady_clock::now();
        while (!child->try_wait() && seconds_since(t0) < 20) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        child->kill();
        return make_error(ErrorKind::Infra, "kernel: {} interrupted", what);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  if (st.exited_normally() && st.code == 0) return {};
  auto text = read_file(log_path);
  return make_error(ErrorKind::Infra, "kernel: {} failed ({}); last lines of {}:\n{}", what, st.describe(),
                    log_path.string(), text ? tail_lines(*text, 25) : std::string("(unreadable)"));
}

Result<fs::path> extract_tarball(const ResolvedInputs& in) {
  auto src_root = cache_subdir("src");
  if (!src_root) return src_root.error();
  std::string stem = in.source.filename().string();
  stem = stem.substr(0, stem.find(".tar"));
  std::string id = stem + "-" + sha256_hex(in.source_identity).substr(0, 12);
  fs::path dest = *src_root / id;
  std::error_code ec;
  auto find_tree = [&]() -> std::optional<fs::path> {
    for (auto& e : fs::directory_iterator(dest, ec))
      if (e.is_directory() && fs::exists(e.path() / "Makefile")) return e.path();
    return std::nullopt;
  };
  if (fs::exists(dest / ".complete")) {
    if (auto t = find_tree()) return *t;
  }
  progress("kernel: extracting {} (once)", in.source.string());
  fs::path tmp = *src_root / (id + ".partial");
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  auto st = run_logged({"tar", "-xf", in.source.string(), "-C", tmp.string()}, *src_root / (id + ".extract.log"),
                       "extracting the source");
  if (!st) {
    fs::remove_all(tmp, ec);
    return st.error();
  }
  FB_TRY(write_file_atomic(tmp / ".complete", ""));
  fs::remove_all(dest, ec);
  fs::rename(tmp, dest, ec);
  if (ec) return make_error(ErrorKind::Infra, "rename {} -> {}: {}", tmp.string(), dest.string(), ec.message());
  if (auto t = find_tree()) return *t;
  return make_error(ErrorKind::Usage, "{} holds no kernel source tree", in.source.string());
}

}  // namespace

Status check_kernel_image(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return make_error(ErrorKind::Usage, "kernel {}: no such file", path.string());
  if (!fs::is_regular_file(path, ec)) return make_error(ErrorKind::Usage, "kernel {}: not a regular file", path.string());
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return make_error(ErrorKind::Usage, "kernel {}: {}", path.string(), strerror(errno));
  char head[0x206] = {};
  ssize_t n = pread(fd.get(), head, sizeof head, 0);
  if (n >= 4 && memcmp(head, "\x7f" "ELF", 4) == 0) return {};
  if (n == static_cast<ssize_t>(sizeof head) && memcmp(head + 0x202, "HdrS", 4) == 0) {
    // The setup header says how long the image is: setup sectors (0 means 4) + the boot sector,
    // then syssize 16-byte paragraphs of protected-mode code. A cut file is shorter.
    unsigned setup_sects = static_cast<unsigned char>(head[0x1f1]);
    if (setup_sects == 0) setup_sects = 4;
    std::uint32_t syssize;
    memcpy(&syssize, head + 0x1f4, sizeof syssize);
    std::uintmax_t declared = (setup_sects + 1) * 512ull + syssize * 16ull;
    auto size = fs::file_size(path, ec);
    if (!ec && size < declared)
      return make_error(ErrorKind::Usage, "kernel {}: cut short: {} bytes, its bzImage header says {}", path.string(),
                        size, declared);
    return {};
  }
  return make_error(ErrorKind::Usage, "kernel {}: not a bzImage (no 'HdrS' at 0x202) nor an ELF vmlinux",
                    path.string());
}

Result<fs::path> default_source_tree() {
  KernelBuildOptions opts;
  auto in = resolve_inputs(opts);
  if (!in) return in.error();
  if (in->source_is_dir) return in->source;
  return extract_tarball(*in);
}

Result<fs::path> cached_kernel_dir(const KernelBuildOptions& opts) {
  auto in = resolve_inputs(opts);
  if (!in) return in.error();
  return cache_root() / "kernels" / in->hash;
}

Result<std::optional<KernelArtifact>> find_cached_kernel(const KernelBuildOptions& opts) {
  auto in = resolve_inputs(opts);
  if (!in) return in.error();
  // A plain dir may have changed: always make. A git tree is keyed by its commit (and changes).
  if (in->source_is_dir && !in->source_is_git) return std::optional<KernelArtifact>{};
  fs::path dir = cache_root() / "kernels" / in->hash;
  std::error_code ec;
  // Entries are published whole (rename of a finished dir), so any dir here is an entry.
  if (!fs::is_directory(dir, ec)) return std::optional<KernelArtifact>{};
  return std::optional<KernelArtifact>(load_artifact(dir, in->hash));
}

std::string kernel_rebuild_command(const KernelBuildOptions& opts) {
  std::string cmd = "faultbox kernel build";
  if (!opts.source.empty()) cmd += " --source " + opts.source.string();
  if (!opts.base_config.empty()) cmd += " --config " + opts.base_config.string();
  if (!opts.fragment_dir.empty()) cmd += " --fragment-dir " + opts.fragment_dir.string();
  for (auto& f : opts.extra_fragments) cmd += " --fragment " + f.string();
  return cmd;
}

void record_cached_kernel_digest(const fs::path& bzimage) {
  std::error_code ec;
  fs::path dir = bzimage.parent_path();
  if (bzimage.filename() != "bzImage" || !fs::equivalent(dir.parent_path(), cache_root() / "kernels", ec)) return;
  auto meta = read_file(dir / "meta.json");
  if (!meta) return;
  auto j = nlohmann::json::parse(*meta, nullptr, false);
  if (!j.is_object() || (j.contains(kMetaBzimageSize) && j.contains(kMetaBzimageSha256))) return;
  auto size = fs::file_size(bzimage, ec);
  auto h = sha256_file(bzimage);
  if (ec || !h) return;
  j[kMetaBzimageSize] = size;
  j[kMetaBzimageSha256] = *h;
  if (auto st = write_file_atomic(dir / "meta.json", j.dump(2)); !st)
    progress("warning: cannot record the kernel's size and sha256 in {}: {}", (dir / "meta.json").string(),
             st.error().message);
  else
    debug("kernel: recorded size and sha256 of {} after a boot", bzimage.string());
}

Result<KernelArtifact> build_kernel(const KernelBuildOptions& opts) {
  auto in = resolve_inputs(opts);
  if (!in) return in.error();
  auto kernels = cache_subdir("kernels");
  if (!kernels) return kernels.error();
  fs::path out_dir = *kernels / in->hash;
  std::error_code ec;
  // Held until the entry is published: a second process asking for the same kernel waits and
  // then finds it cached, instead of rebuilding and replacing it under a VM that boots it.
  auto entry_lock = lock_cache_entry(out_dir, "kernel");
  if (!entry_lock) return entry_lock.error();
  if (!opts.force && (!in->source_is_dir || in->source_is_git) && fs::is_directory(out_dir, ec)) {
    auto a = load_artifact(out_dir, in->hash);
    if (a.damage.empty()) {
      progress("kernel: cached {} ({})", a.bzimage.string(), a.release);
      return a;
    }
    progress("kernel: cached kernel {} is damaged ({}), rebuilding", out_dir.string(), a.damage);
  }

  fs::path src = in->source;
  if (!opts.git_commit.empty()) {
    // The key says git:<commit>: what is compiled must be exactly that commit.
    auto id = identify_source_dir(src);
    if (!id) return id.error();
    if (id->text != in->source_identity)
      return make_error(ErrorKind::Infra, "kernel: {} is not a clean checkout of {} ({})", src.string(), opts.git_commit,
                        id->text);
  }
  if (!in->source_is_dir) {
    auto s = extract_tarball(*in);
    if (!s) return s.error();
    src = *s;
  }
  auto kbuild_root = cache_subdir("kbuild");
  if (!kbuild_root) return kbuild_root.error();
  std::string build_id = src.parent_path().filename().string();
  if (in->source_is_dir) build_id = "dir-" + sha256_hex(src.string()).substr(0, 12);
  fs::path build = opts.build_dir.empty() ? *kbuild_root / build_id : opts.build_dir;
  fs::create_directories(build, ec);
  auto lock = lock_file(opts.build_dir.empty() ? *kbuild_root / (build_id + ".lock")
                                               : build.parent_path() / (build.filename().string() + ".lock"));
  if (!lock) return lock.error();

  fs::path log = build / "faultbox-build.log";
  FB_TRY(write_file_atomic(log, ""));
  const std::vector<std::string> make = {"make", "-C", src.string(), "O=" + build.string(), "ARCH=x86_64"};
  auto with = [&](std::initializer_list<std::string> extra) {
    std::vector<std::string> v = make;
    v.insert(v.end(), extra);
    return v;
  };

  // 1. base config
  std::string config_text;
  if (in->base_config_text.empty()) {
    progress("kernel: config tinyconfig + kvm_guest.config + {} fragments (hash {})", in->fragments.size(), in->hash);
    FB_TRY(run_logged(with({"tinyconfig"}), log, "make tinyconfig", {}, opts.cancelled));
    auto tiny = read_file(build / ".config");
    if (!tiny) return tiny.error();
    auto kvm = read_file(src / "kernel/configs/kvm_guest.config");
    if (!kvm) return kvm.error();
    config_text = *tiny + "\n" + *kvm;
  } else {
    progress("kernel: config {} + {} fragments (hash {})", opts.base_config.string(), in->fragments.size(), in->hash);
    config_text = in->base_config_text;
  }
  // 2. fragments: appended, so kconfig's last-assignment-wins applies them (as merge_config.sh)
  for (auto& f : in->fragments) config_text += "\n# from " + f.path.string() + "\n" + f.text;
  FB_TRY(write_file_atomic(build / ".config", config_text));
  FB_TRY(run_logged(with({"olddefconfig"}), log, "make olddefconfig", {}, opts.cancelled));

  // 3. verify
  auto final_cfg = load_kconfig(build / ".config");
  if (!final_cfg) return final_cfg.error();
  auto final_map = to_map(*final_cfg);
  auto lost = find_lost_options(in->fragments, final_map);
  if (!lost.empty()) {
    for (auto& l : lost) l.explanation = explain_lost_option(src, l.requested.symbol, final_map);
    return make_error(ErrorKind::Usage, "kernel: {} requested option(s) did not survive olddefconfig:\n{}", lost.size(),
                      format_lost_options(lost));
  }
  progress("kernel: config verified ({} requested options all present)",
           [&] {
             std::size_t n = 0;
             for (auto& f : in->fragments) n += f.entries.size();
             return n;
           }());

  // 4. build
  int jobs = opts.jobs > 0 ? opts.jobs : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::string> env = {"KBUILD_BUILD_TIMESTAMP=faultbox", "KBUILD_BUILD_USER=faultbox",
                                  "KBUILD_BUILD_HOST=faultbox"};
  std::string cc = "gcc";
  if (!find_in_path("ccache").empty()) {
    auto ccache_dir = cache_subdir("ccache");
    if (!ccache_dir) return ccache_dir.error();
    env.push_back("CCACHE_DIR=" + ccache_dir->string());
    env.push_back("CCACHE_BASEDIR=" + cache_root().string());
    // Per-build hit counts, for the build's last progress line and meta.json (ccache's own
    // statistics are shared by every build on the machine).
    fs::remove(build / "ccache-stats.log", ec);
    env.push_back("CCACHE_STATSLOG=" + (build / "ccache-stats.log").string());
    cc = "ccache gcc";
  } else {
    progress("kernel: ccache not found, building without it");
  }
  progress("kernel: building bzImage with make -j{} ({}), log {}", jobs, cc, log.string());
  auto t0 = std::chrono::steady_clock::now();
  FB_TRY(run_logged(with({"-j" + std::to_string(jobs), "CC=" + cc, "bzImage"}), log, "make bzImage", env, opts.cancelled));
  double secs = seconds_since(t0);
  // ccache's stats log: one line per compiler call naming its result.
  int ccache_hits = 0, ccache_misses = 0;
  if (auto stats = read_file(build / "ccache-stats.log")) {
    std::istringstream lines(*stats);
    for (std::string line; std::getline(lines, line);) {
      if (line == "direct_cache_hit" || line == "preprocessed_cache_hit") ++ccache_hits;
      else if (line == "cache_miss") ++ccache_misses;
    }
  }
  auto rel = run_capture(with({"-s", "kernelrelease"}));
  std::string release = rel && rel->status.code == 0 ? rel->output : "";
  while (!release.empty() && isspace(static_cast<unsigned char>(release.back()))) release.pop_back();

  // 5. publish atomically: a half-copied kernel must never look cached
  fs::path tmp = *kernels / (in->hash + ".partial");
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  FB_TRY(copy_file_atomic(build / "arch/x86/boot/bzImage", tmp / "bzImage"));
  FB_TRY(copy_file_atomic(build / ".config", tmp / "config"));
  FB_TRY(copy_file_atomic(log, tmp / "build.log"));
  // The functions fail_function and bpf_override may fail, so scenarios are checked before boot.
  if (auto list = read_error_injection_list(build / "vmlinux")) {
    list->release = release;
    FB_TRY(write_error_injection_list(tmp / kErrorInjectionFile, *list));
  } else {
    progress("kernel: no error-injection list from vmlinux ({}); it is cached at the first boot instead",
             list.error().message);
  }
  auto bz_sha256 = sha256_file(tmp / "bzImage");
  if (!bz_sha256) return bz_sha256.error();
  nlohmann::json meta = {{"hash", in->hash},
                         {"release", release},
                         {kMetaBzimageSize, fs::file_size(tmp / "bzImage")},
                         {kMetaBzimageSha256, *bz_sha256},
                         {"source", in->source.string()},
                         {"source_identity", in->source_identity},
                         {"build_seconds", secs},
                         {"ccache_hits", ccache_hits},
                         {"ccache_misses", ccache_misses},
                         {"jobs", jobs},
                         {"fragments", [&] {
                            auto a = nlohmann::json::array();
                            for (auto& f : in->fragments) a.push_back(f.path.string());
                            return a;
                          }()}};
  FB_TRY(write_file_atomic(tmp / "meta.json", meta.dump(2)));
  fs::remove_all(out_dir, ec);
  fs::rename(tmp, out_dir, ec);
  if (ec) return make_error(ErrorKind::Infra, "rename {} -> {}: {}", tmp.string(), out_dir.string(), ec.message());
  progress("kernel: built {} in {:.0f} s (ccache: {} hits, {} misses) -> {}", release, secs, ccache_hits, ccache_misses,
           (out_dir / "bzImage").string());
  auto a = load_artifact(out_dir, in->hash);
  if (!a.damage.empty()) return make_error(ErrorKind::Infra, "kernel: the kernel just built in {} is damaged: {}", out_dir.string(), a.damage);
  a.from_cache = false;
  return a;
}

}  // namespace fb
