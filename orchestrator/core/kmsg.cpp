#include "orchestrator/core/kmsg.h"

#include <fmt/format.h>

#include <regex>


namespace fb {

std::string KmsgRecord::line() const {
  return fmt::format("[{:5}.{:06}] {}", usec / 1000000, usec % 1000000, text);
}

namespace {

std::string unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() + 0 && s[i + 1] == 'x' && isxdigit(static_cast<unsigned char>(s[i + 2])) &&
        isxdigit(static_cast<unsigned char>(s[i + 3]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 2, 2)), nullptr, 16)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Frames of the fault-injection and stack-dumping machinery, skipped in signatures.
bool machinery(const std::string& fn) {
  static const char* kSkip[] = {"dump_stack_lvl", "dump_stack", "should_fail_ex", "should_fail", "fail_dump",
                                "__should_failslab", "should_failslab", "should_fail_alloc_page",
                                "should_fail_usercopy", "should_fail_bio", "should_fail_request", "should_fail_futex", "fei_kprobe_handler",
                                "kprobe_ftrace_handler", "show_stack", "__should_fail_alloc_page"};
  for (auto* s : kSkip)
    if (fn == s) return true;
  // the hooks that call should_failslab / should_fail_alloc_page (with .constprop suffixes)
  return fn.rfind("slab_pre_alloc_hook", 0) == 0 || fn.rfind("prepare_alloc_pages", 0) == 0;
}

}  // namespace

void KmsgParser::feed(std::string_view bytes, std::vector<KmsgRecord>& out) {
  pending_.append(bytes);
  std::size_t pos = 0;
  for (;;) {
    std::size_t nl = pending_.find('\n', pos);
    if (nl == std::string::npos) break;
    std::string_view rec(pending_.data() + pos, nl - pos);
    pos = nl + 1;
    if (rec.empty() || rec[0] == ' ') continue;  // continuation lines (" SUBSYSTEM=...") carry no text
    auto semi = rec.find(';');
    if (semi == std::string_view::npos) continue;
    KmsgRecord r;
    unsigned long long prio = 0, seq = 0, usec = 0;
    if (sscanf(std::string(rec.substr(0, semi)).c_str(), "%llu,%llu,%llu", &prio, &seq, &usec) != 3) continue;
    r.level = static_cast<int>(prio & 7);
    r.seq = seq;
    r.usec = usec;
    r.text = unescape(rec.substr(semi + 1));
    out.push_back(std::move(r));
  }
  pending_.erase(0, pos);
  // /dev/kmsg never hands out a record without its newline; anything this long is garbage.
  if (pending_.size() > (1u << 20)) pending_.clear();
}

std::string InjectionEvent::stack_signature() const {
  // Ten frames tell the callers apart that matter for error paths: the same failing bio under
  // kswapd (... shrink_node <- balance_pgdat <- kswapd) and under a task's direct reclaim
  // (... shrink_node <- do_try_to_free_pages <- try_to_free_mem_cgroup_pages).
  std::string s;
  for (std::size_t i = 0; i < frames.size() && i < 10; ++i) s += (i ? " <- " : "") + frames[i];
  return s;
}

namespace {

// Hand-written matchers, not std::regex: libstdc++'s regex recurses once per character of a
// repetition, and a record from the guest is untrusted (a 30 KB symbol overflowed the stack).

// " func+0x1a/0x2b" -> "func"; "? func+0x..." (unreliable frame) and anything else -> "".
std::string frame_function(std::string_view t) {
  std::size_t i = 0;
  while (i < t.size() && (t[i] == ' ' || t[i] == '\t')) ++i;
  if (i == 0 || (i < t.size() && t[i] == '?')) return {};
  std::size_t start = i;
  while (i < t.size() && (isalnum(static_cast<unsigned char>(t[i])) || t[i] == '_' || t[i] == '.')) ++i;
  if (i == start || t.substr(i, 3) != "+0x") return {};
  return std::string(t.substr(start, i - start));
}

// The word after `key` up to a delimiter, e.g. ("name ", ',') in "name failslab, interval 1".
std::string word_after(std::string_view t, std::string_view key, char delim) {
  auto pos = t.find(key);
  if (pos == std::string_view::npos) return {};
  pos += key.size();
  auto end = pos;
  while (end < t.size() && t[end] != delim && t[end] != ' ' && t[end] != '\n') ++end;
  return std::string(t.substr(pos, std::min<std::size_t>(end - pos, 64)));
}

}  // namespace

std::vector<InjectionEvent> find_injections(std::span<const KmsgRecord> records) {
  std::vector<InjectionEvent> out;
  bool in_trace = false;
  for (auto& r : records) {
    std::string_view text = r.text;
    if (text.find("FAULT_INJECTION: forcing a failure") != std::string_view::npos) {
      InjectionEvent e;
      e.fault = word_after(text, "name ", ',');
      out.push_back(std::move(e));
      in_trace = false;
      continue;
    }
    if (out.empty()) continue;
    InjectionEvent& e = out.back();
    if (e.task.empty()) e.task = word_after(text, "Comm: ", ' ');
    // The failing call's frames are in the first stack section of the dump: <TASK> for a task,
    // <IRQ> (or <SOFTIRQ>, <NMI>) when it failed in interrupt context, as fail_io_timeout does
    // at a disk's completion; the <TASK> section after it is only what the interrupt interrupted.
    bool opens = false, closes = false;
    for (std::string_view section : {"TASK>", "IRQ>", "SOFTIRQ>", "NMI>"}) {
      auto at = text.find(section);
      if (at == std::string_view::npos || at == 0) continue;
      if (text[at - 1] == '<') opens = true;
      if (text[at - 1] == '/' && at >= 2 && text[at - 2] == '<') closes = true;
    }
    if (opens) {
      in_trace = e.frames.empty();
      continue;
    }
    if (closes) {
      in_trace = false;
      continue;
    }
    if (!in_trace) continue;
    std::string fn = frame_function(text);
    if (!fn.empty() && !machinery(fn)) e.frames.push_back(fn);
  }
  return out;
}

std::vector<OomKill> find_oom_kills(std::span<const KmsgRecord> records) {
  // mm/oom_kill.c: "%s: Killed process %d (%s) total-vm:..." with "Out of memory" (also with
  // " (oom_kill_allocating_task)") or "Memory cgroup out of memory"; a comm may hold ") ".
  static const std::regex killed(R"(^(Memory cgroup out of memory|Out of memory)[^:]*: Killed process (\d+) \((.*)\) total-vm:)");
  static const std::regex memcg(R"((?:^|,)oom_memcg=([^,]*))");
  std::vector<OomKill> out;
  std::string last_memcg;
  for (auto& rec : records) {
    std::smatch m;
    if (rec.text.rfind("oom-kill:", 0) == 0) {
      last_memcg = std::regex_search(rec.text, m, memcg) ? m[1].str() : "";
      continue;
    }
    if (!std::regex_search(rec.text, m, killed)) continue;
    OomKill k;
    k.pid = std::stol(m[2].str());
    k.comm = m[3].str();
    k.reason = m[1].str() == "Memory cgroup out of memory" ? "memory cgroup" : "system";
    k.memcg = k.reason == "memory cgroup" ? last_memcg : "";
    last_memcg.clear();
    out.push_back(std::move(k));
  }
  return out;
}

}  // namespace fb
