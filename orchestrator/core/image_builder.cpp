#include "orchestrator/core/image_builder.h"

#include "common/files.h"
#include "common/process.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/cpio.h"
#include "orchestrator/core/log.h"

#include <nlohmann/json.hpp>

#include <regex>
#include <sstream>
#include <unistd.h>

namespace fb {

namespace fs = std::filesystem;

// Bump when the image layout changes.
static constexpr const char* kImageVersion = "faultbox-image-1";

Result<fs::path> default_agent_path() {
  if (const char* a = getenv("FAULTBOX_AGENT"); a && *a) return fs::path(a);
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return make_error(ErrorKind::Infra, "cannot find own executable: {}", ec.message());
  fs::path agent = self.parent_path() / "faultbox-agent";
  if (!fs::exists(agent))
    return make_error(ErrorKind::Infra, "faultbox-agent not found beside {} (set FAULTBOX_AGENT)", self.string());
  return agent;
}

Result<std::vector<fs::path>> library_closure(const fs::path& binary) {
  std::error_code ec;
  if (!fs::is_regular_file(binary, ec)) return make_error(ErrorKind::Usage, "--include {}: no such file", binary.string());
  std::vector<fs::path> out = {binary};
  auto ldd = run_capture({"ldd", binary.string()}, true);
  if (!ldd) return ldd.error();
  if (ldd->output.find("not a dynamic executable") != std::string::npos ||
      ldd->output.find("statically linked") != std::string::npos)
    return out;
  if (ldd->status.code != 0)
    return make_error(ErrorKind::Usage, "--include {}: ldd failed: {}", binary.string(), ldd->output);
  // "libx.so.1 => /lib/.../libx.so.1 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
  static const std::regex arrow(R"(=>\s+(/\S+))");
  static const std::regex bare(R"(^\s*(/\S+)\s+\()");
  std::istringstream in(ldd->output);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.find("not found") != std::string::npos)
      return make_error(ErrorKind::Usage, "--include {}: missing library: {}", binary.string(), line);
    if (std::regex_search(line, m, arrow) || std::regex_search(line, m, bare)) out.emplace_back(m[1].str());
  }
  return out;
}

Status check_boot_image(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return make_error(ErrorKind::Usage, "initramfs {}: no such file", path.string());
  auto data = read_file(path);
  if (!data) return data.error();
  auto s = validate_cpio(*data, path.string());
  if (!s) return s.error();
  return {};
}

Result<BootImage> build_image(const ImageBuildOptions& opts) {
  fs::path agent = opts.agent;
  if (agent.empty()) {
    auto a = default_agent_path();
    if (!a) return a.error();
    agent = *a;
  }
  fs::path busybox = opts.busybox.empty() ? fs::path("/bin/busybox") : opts.busybox;
  auto agent_bytes = read_file(agent);
  if (!agent_bytes) return make_error(ErrorKind::Infra, "agent: {}", agent_bytes.error().message);
  auto busybox_bytes = read_file(busybox);
  if (!busybox_bytes)
    return make_error(ErrorKind::Infra, "busybox: {} (apt-get install busybox-static)", busybox_bytes.error().message);

  // Hash every input file's bytes, so a rebuilt agent or an upgraded library gives a new image.
  Sha256 h;
  h.field(kImageVersion).field(*agent_bytes).field(*busybox_bytes);
  std::vector<std::pair<std::string, std::string>> extra_files;  // archive path, bytes
  for (auto& inc : opts.includes) {
    auto closure = library_closure(inc);
    if (!closure) return closure.error();
    for (auto& f : *closure) {
      std::string ap = fs::absolute(f).relative_path().string();
      bool dup = false;
      for (auto& [p, b] : extra_files) dup |= p == ap;
      if (dup) continue;
      auto bytes = read_file(f);
      if (!bytes) return bytes.error();
      h.field(ap).field(*bytes);
      extra_files.emplace_back(ap, std::move(*bytes));
    }
  }
  std::string hash = h.hex().substr(0, 16);
  auto images = cache_subdir("images");
  if (!images) return images.error();
  fs::path dir = *images / hash;
  fs::path cpio_path = dir / "initramfs.cpio";
  std::error_code ec;
  if (!opts.force && fs::exists(cpio_path)) {
    auto ok = check_boot_image(cpio_path);
    if (ok) {
      BootImage img{cpio_path, hash, 0, static_cast<std::size_t>(fs::file_size(cpio_path, ec)), true};
      debug("image: cached {}", cpio_path.string());
      return img;
    }
    progress("image: cached image is damaged ({}), rebuilding", ok.error().message);
  }

  CpioWriter w;
  for (const char* d : {"bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "run", "root", "var",
                        "mnt", "lib", "lib64"})
    w.add_dir(d);
  // The kernel opens /dev/console for PID 1 before anything is mounted.
  w.add_char_device("dev/console", 5, 1, 0600);
  w.add_char_device("dev/null", 1, 3, 0666);
  w.add_file("init", *agent_bytes, 0755);
  w.add_file("bin/busybox", *busybox_bytes, 0755);
  w.add_symlink("usr/bin/faultbox-probe", "/init");  // the agent's syscall probes (guest-agent/probe.h)
  auto list = run_capture({busybox.string(), "--list-full"});
  if (!list || list->status.code != 0) return make_error(ErrorKind::Infra, "{} --list-full failed", busybox.string());
  std::istringstream applets(list->output);
  std::string applet;
  std::size_t napplets = 0;
  while (std::getline(applets, applet)) {
    if (applet.find('/') == std::string::npos || w.contains(applet)) continue;
    w.add_symlink(applet, "/bin/busybox");
    ++napplets;
  }
  w.add_file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
  w.add_file("etc/group", "root:x:0:\nnogroup:x:65534:\n");
  for (auto& [p, bytes] : extra_files) {
    if (w.contains(p)) continue;
    w.add_file(p, bytes, 0755);
  }
  std::string archive = w.finish();
  auto check = validate_cpio(archive, "generated image");
  if (!check) return check.error();

  fs::create_directories(dir, ec);
  if (ec) return make_error(ErrorKind::Infra, "{}: {}", dir.string(), ec.message());
  FB_TRY(write_file_atomic(cpio_path, archive));
  nlohmann::json meta = {{"hash", hash}, {"agent", agent.string()}, {"busybox", busybox.string()},
                         {"applets", napplets}, {"entries", check->entries}, {"bytes", archive.size()}};
  auto inc = nlohmann::json::array();
  for (auto& [p, b] : extra_files) inc.push_back("/" + p);
  meta["included_files"] = inc;
  FB_TRY(write_file_atomic(dir / "meta.json", meta.dump(2)));
  progress("image: built {} ({} entries, {:.1f} MiB)", cpio_path.string(), check->entries,
           static_cast<double>(archive.size()) / (1 << 20));
  return BootImage{cpio_path, hash, check->entries, archive.size(), false};
}

}  // namespace fb
