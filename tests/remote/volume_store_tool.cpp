// A second faultbox process for the volume store tests: another process's view of the pool
// (its own owner tag), and one that can be killed half-way through an upload.
//   volume_store_tool input URI FILE [--die-after-bytes N]   prints the volume's host path and bytes sent
//   volume_store_tool scratch URI FILE --die                 uploads a scratch volume, then SIGKILLs itself
#include "orchestrator/vm/libvirt_storage.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s input|scratch URI FILE [--die-after-bytes N | --die]\n", argv[0]);
    return 2;
  }
  std::string mode = argv[1], uri = argv[2], file = argv[3];
  std::uint64_t die_after = 0;
  bool die = false;
  for (int i = 4; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--die-after-bytes" && i + 1 < argc) die_after = std::strtoull(argv[++i], nullptr, 10);
    else if (arg == "--die") die = true;
  }
  auto conn = fb::libvirt_connect(uri);
  if (!conn) {
    std::fprintf(stderr, "%s\n", conn.error().message.c_str());
    return 5;
  }
  fb::VolumeStoreOptions options;
  if (die_after)
    options.on_upload_progress = [die_after](std::uint64_t sent) {
      if (sent >= die_after) raise(SIGKILL);  // no destructor, no cleanup: a faultbox killed mid-upload
    };
  auto store = fb::VolumeStore::open(conn->get(), options);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().message.c_str());
    return 5;
  }
  if (mode == "input") {
    auto path = store->ensure_input(file);
    if (!path) {
      std::fprintf(stderr, "%s\n", path.error().message.c_str());
      return 5;
    }
    std::printf("%s %llu\n", path->c_str(), static_cast<unsigned long long>(store->counters().upload_bytes));
    return 0;
  }
  auto scratch = store->upload_scratch(file, "tool");
  if (!scratch) {
    std::fprintf(stderr, "%s\n", scratch.error().message.c_str());
    return 5;
  }
  std::printf("%s\n", scratch->name().c_str());
  std::fflush(stdout);
  if (die) raise(SIGKILL);
  return 0;
}
