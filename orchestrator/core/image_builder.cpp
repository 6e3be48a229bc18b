#include "orchestrator/core/image_builder.h"

#include "common/files.h"
#include "common/process.h"
#include "orchestrator/core/cache.h"
#include "orchestrator/core/cpio.h"
#include "orchestrator/core/install_paths.h"
#include "orchestrator/core/log.h"

#include <nlohmann/json.hpp>

#include <regex>
#include <set>
#include <sstream>
#include <unistd.h>

namespace fb {

namespace fs = std::filesystem;

// Bump when the image layout changes.
static constexpr const char* kImageVersion = "faultbox-image-1";

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

Result<ImageContent> collect_image_content(const ImageBuildOptions& opts) {
  fs::path agent = opts.agent;
  if (agent.empty()) {
    auto a = agent_binary();
    if (!a) return a.error();
    agent = *a;
  }
  fs::path busybox = opts.busybox.empty() ? fs::path("/bin/busybox") : opts.busybox;
  auto agent_bytes = read_file(agent);
  if (!agent_bytes) return make_error(ErrorKind::Infra, "agent: {}", agent_bytes.error().message);
  auto busybox_bytes = read_file(busybox);
  if (!busybox_bytes)
    return make_error(ErrorKind::Infra, "busybox: {} (apt-get install busybox-static)", busybox_bytes.error().message);

  ImageContent c;
  c.agent = agent;
  c.busybox = busybox;
  std::set<std::string> seen;
  auto add = [&](ImageEntry e) {
    if (!seen.insert(e.path).second) return;
    if (e.kind == ImageEntry::Kind::File) c.file_bytes += e.data.size();
    c.entries.push_back(std::move(e));
  };
  using K = ImageEntry::Kind;
  // Hash every input file's bytes, so a rebuilt agent or an upgraded library gives a new image.
  Sha256 h;
  h.field(kImageVersion).field(*agent_bytes).field(*busybox_bytes);
  for (const char* d : {"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "run", "root",
                        "var", "mnt", "lib", "lib64"})
    add({K::Dir, d, 0755, {}, 0, 0});
  // The kernel opens /dev/console for PID 1 before anything is mounted.
  add({K::CharDevice, "dev/console", 0600, {}, 5, 1});
  add({K::CharDevice, "dev/null", 0666, {}, 1, 3});
  add({K::File, "init", 0755, std::move(*agent_bytes), 0, 0});
  add({K::File, "bin/busybox", 0755, std::move(*busybox_bytes), 0, 0});
  add({K::Symlink, "usr/bin/faultbox-probe", 0777, "/init", 0, 0});  // the agent's syscall probes (guest-agent/probe.h)
  auto list = run_capture({busybox.string(), "--list-full"});
  if (!list || list->status.code != 0) return make_error(ErrorKind::Infra, "{} --list-full failed", busybox.string());
  std::istringstream applets(list->output);
  std::string applet;
  while (std::getline(applets, applet)) {
    if (applet.find('/') == std::string::npos || seen.count(applet)) continue;
    add({K::Symlink, applet, 0777, "/bin/busybox", 0, 0});
    ++c.applets;
  }
  add({K::File, "etc/passwd", 0644, "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", 0, 0});
  add({K::File, "etc/group", 0644, "root:x:0:\nnogroup:x:65534:\n", 0, 0});
  std::set<std::string> included;
  for (auto& inc : opts.includes) {
    auto closure = library_closure(inc);
    if (!closure) return closure.error();
    for (auto& f : *closure) {
      std::string ap = fs::absolute(f).relative_path().string();
      if (!included.insert(ap).second) continue;
      auto bytes = read_file(f);
      if (!bytes) return bytes.error();
      h.field(ap).field(*bytes);
      c.included.push_back("/" + ap);
      // Parents of an included path that the layout above lacks (e.g. usr/lib/x86_64-linux-gnu).
      for (std::size_t slash = ap.find('/'); slash != std::string::npos; slash = ap.find('/', slash + 1))
        add({K::Dir, ap.substr(0, slash), 0755, {}, 0, 0});
      add({K::File, ap, 0755, std::move(*bytes), 0, 0});
    }
  }
  c.hash = h.hex();
  return c;
}

Result<BootImage> build_image(const ImageBuildOptions& opts) {
  auto content = collect_image_content(opts);
  if (!content) return content.error();
  std::string hash = content->hash.substr(0, 16);
  auto images = cache_subdir("images");
  if (!images) return images.error();
  fs::path dir = *images / hash;
  fs::path cpio_path = dir / "initramfs.cpio";
  std::error_code ec;
  // The image is published by rename, so a whole one needs no lock to be used (every boot
  // checks it; parallel runs must not queue for that).
  auto cached = [&]() -> std::optional<BootImage> {
    if (opts.force || !fs::exists(cpio_path)) return std::nullopt;
    if (auto ok = check_boot_image(cpio_path); !ok) {
      progress("image: cached image is damaged ({}), rebuilding", ok.error().message);
      return std::nullopt;
    }
    debug("image: cached {}", cpio_path.string());
    return BootImage{cpio_path, hash, 0, static_cast<std::size_t>(fs::file_size(cpio_path, ec)), true};
  };
  if (auto img = cached()) return *img;
  // Another faultbox process making the same image goes first; this one then reuses it.
  auto lock = lock_cache_entry(dir, "image");
  if (!lock) return lock.error();
  if (auto img = cached()) return *img;

  CpioWriter w;
  for (auto& e : content->entries) {
    switch (e.kind) {
      case ImageEntry::Kind::Dir: w.add_dir(e.path, e.mode); break;
      case ImageEntry::Kind::File: w.add_file(e.path, e.data, e.mode); break;
      case ImageEntry::Kind::Symlink: w.add_symlink(e.path, e.data); break;
      case ImageEntry::Kind::CharDevice: w.add_char_device(e.path, e.major, e.minor, e.mode); break;
    }
  }
  std::string archive = w.finish();
  auto check = validate_cpio(archive, "generated image");
  if (!check) return check.error();

  fs::create_directories(dir, ec);
  if (ec) return make_error(ErrorKind::Infra, "{}: {}", dir.string(), ec.message());
  FB_TRY(write_file_atomic(cpio_path, archive));
  nlohmann::json meta = {{"hash", hash}, {"agent", content->agent.string()}, {"busybox", content->busybox.string()}, {"applets", content->applets}, {"entries", check->entries},
                         {"bytes", archive.size()}, {"included_files", content->included}};
  FB_TRY(write_file_atomic(dir / "meta.json", meta.dump(2)));
  progress("image: built {} ({} entries, {:.1f} MiB)", cpio_path.string(), check->entries,
           static_cast<double>(archive.size()) / (1 << 20));
  return BootImage{cpio_path, hash, check->entries, archive.size(), false};
}

}  // namespace fb
