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
}

std::string InjectionEvent::stack_signature() const {
  std::string s;
  for (std::size_t i = 0; i < frames.size() && i < 6; ++i) s += (i ? " <- " : "") + frames[i];
  return s;
}

std::vector<InjectionEvent> find_injections(const std::vector<KmsgRecord>& records) {
  static const std::regex name_re(R"(name (\w+),)");
  static const std::regex comm_re(R"(Comm: (\S+))");
  static const std::regex frame_re(R"(^\s*(\?\s+)?([A-Za-z0-9_.]+)\+0x)");
  std::vector<InjectionEvent> out;
  bool in_trace = false;
  for (auto& r : records) {
    if (r.text.find("FAULT_INJECTION: forcing a failure") != std::string::npos) {
      InjectionEvent e;
      std::smatch m;
      if (std::regex_search(r.text, m, name_re)) e.fault = m[1];
      out.push_back(std::move(e));
      in_trace = false;
      continue;
    }
    if (out.empty()) continue;
    InjectionEvent& e = out.back();
    std::smatch m;
    if (e.task.empty() && std::regex_search(r.text, m, comm_re)) e.task = m[1];
    if (r.text.find("<TASK>") != std::string::npos) {
      in_trace = e.frames.empty();
      continue;
    }
    if (r.text.find("</TASK>") != std::string::npos) {
      in_trace = false;
      continue;
    }
    if (in_trace && std::regex_search(r.text, m, frame_re) && m[1].length() == 0 && !machinery(m[2]))
      e.frames.push_back(m[2]);
  }
  return out;
}

}  // namespace fb
