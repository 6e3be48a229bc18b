#include "common/interrupt.h"

#include <atomic>

namespace fb {

// Atomic, not volatile sig_atomic_t: threads (explore's workers, batch runners) read it too.
static std::atomic<int> g_interrupt_signal{0};

bool interrupted() { return g_interrupt_signal.load() != 0; }
void set_interrupted(int sig) { g_interrupt_signal.store(sig); }
int interrupt_signal() { return g_interrupt_signal.load(); }

}  // namespace fb
