// faultbox image build: the initramfs with faultbox-agent as /init.
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/core/image_builder.h"
#include "orchestrator/core/log.h"

#include <cstdio>

namespace fb::cli {

CommandMain add_image(CLI::App& app) {
  struct Options {
    std::vector<std::string> includes;
    std::string agent, busybox;
    bool force = false;
  };
  auto o = std::make_shared<Options>();
  auto* image = app.add_subcommand("image", "Build the boot image");
  image->require_subcommand(1);
  auto* build = image->add_subcommand("build", "Build the initramfs (busybox + faultbox-agent + --include tools), cached");
  build->add_option("--include", o->includes, "host binary to copy in with its shared libraries (repeatable)")
      ->allow_extra_args(false);  // one value per occurrence: a later "--" still starts the command
  build->add_option("--agent", o->agent, "faultbox-agent binary (default: ../libexec/faultbox/faultbox-agent from faultbox's own folder)");
  build->add_option("--busybox", o->busybox, "static busybox (default: /bin/busybox)");
  build->add_flag("--force", o->force, "rebuild even when cached");
  return [o]() -> int {
    ImageBuildOptions io;
    for (auto& i : o->includes) io.includes.emplace_back(i);
    io.agent = o->agent;
    io.busybox = o->busybox;
    io.force = o->force;
    auto img = build_image(io);
    if (!img) {
      log_line(Verbosity::Quiet, img.error().message);
      return exit_code::from_error(img.error());
    }
    printf("%s\n", img->cpio.c_str());
    return 0;
  };
}

}  // namespace fb::cli
