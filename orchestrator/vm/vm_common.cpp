#include "orchestrator/vm/vm.h"

#include <atomic>

namespace fb {

static std::atomic<int> g_interrupt_signal{0};

bool interrupted() { return g_interrupt_signal.load() != 0; }
void set_interrupted(int sig) { g_interrupt_signal.store(sig); }
int interrupt_signal() { return g_interrupt_signal.load(); }

std::string base_kernel_cmdline() {
  // oops=panic + panic=-1 + QEMU -no-reboot: an oops or panic ends the VM at once. (6.1 has
  // no panic_on_oops= boot parameter; an unknown one only lands in init's environment.)
  // loglevel=5 keeps the slow emulated UART quiet during boot but still prints warnings,
  // oopses and stack traces.
  // scsi_debug and null_blk are built in; they create devices only when a scenario asks.
  return "console=ttyS0 loglevel=5 panic=-1 oops=panic scsi_debug.add_host=0 null_blk.nr_devices=0";
}

std::string last_lines(const std::string& text, int n) {
  std::size_t end = text.size();
  while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r')) --end;
  std::size_t pos = end;
  for (int i = 0; i < n; ++i) {
    if (pos == 0) break;
    std::size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) {
      pos = 0;
      break;
    }
    pos = nl;
  }
  std::string out = text.substr(pos == 0 ? 0 : pos + 1, end - (pos == 0 ? 0 : pos + 1));
  return out;
}

}  // namespace fb
