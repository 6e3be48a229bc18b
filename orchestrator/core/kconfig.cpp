#include "orchestrator/core/kconfig.h"

#include "common/files.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <tuple>
#include <regex>
#include <set>
#include <sstream>

namespace fb {

namespace fs = std::filesystem;

Result<KconfigFile> parse_kconfig(const fs::path& path, const std::string& text) {
  static const std::regex kSet(R"(^CONFIG_([A-Za-z0-9_]+)=(.*)$)");
  static const std::regex kUnset(R"(^# CONFIG_([A-Za-z0-9_]+) is not set\s*$)");
  KconfigFile f{path, text, {}};
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::smatch m;
    if (std::regex_match(line, m, kSet)) {
      std::string v = m[2];
      if (v.empty())
        return make_error(ErrorKind::Usage, "{}:{}: CONFIG_{} has no value", path.string(), lineno, m[1].str());
      f.entries.push_back({m[1], v, path, lineno});
    } else if (std::regex_match(line, m, kUnset)) {
      f.entries.push_back({m[1], "n", path, lineno});
    } else {
      auto first = line.find_first_not_of(" \t");
      if (first == std::string::npos || line[first] == '#') continue;
      return make_error(ErrorKind::Usage, "{}:{}: not a kconfig line: '{}' (expected CONFIG_NAME=value or "
                        "'# CONFIG_NAME is not set')", path.string(), lineno, line);
    }
  }
  return f;
}

Result<KconfigFile> load_kconfig(const fs::path& path) {
  auto text = read_file(path);
  if (!text) return text.error();
  return parse_kconfig(path, *text);
}

std::map<std::string, std::string> to_map(const KconfigFile& f) {
  std::map<std::string, std::string> m;
  for (auto& e : f.entries) m[e.symbol] = e.value;
  return m;
}

std::vector<LostOption> find_lost_options(const std::vector<KconfigFile>& requested,
                                          const std::map<std::string, std::string>& final_config) {
  // The last request for a symbol is the one that counts.
  std::map<std::string, KconfigEntry> wanted;
  for (auto& f : requested)
    for (auto& e : f.entries) wanted[e.symbol] = e;
  std::vector<LostOption> lost;
  for (auto& [sym, e] : wanted) {
    auto it = final_config.find(sym);
    std::string actual = it == final_config.end() ? "n" : it->second;
    if (actual != e.value) lost.push_back({e, actual, {}});
  }
  std::sort(lost.begin(), lost.end(), [](const LostOption& a, const LostOption& b) {
    return std::tie(a.requested.file, a.requested.line) < std::tie(b.requested.file, b.requested.line);
  });
  return lost;
}

namespace {

// Kconfig keywords that end the attribute block of a config entry.
bool starts_new_entry(const std::string& trimmed) {
  static const char* kw[] = {"config ", "menuconfig ", "choice", "endchoice", "menu ", "endmenu",
                             "if ",     "endif",       "comment ", "source ",  "mainmenu "};
  for (auto* k : kw)
    if (trimmed.rfind(k, 0) == 0) return true;
  return false;
}

std::string trim(const std::string& s) {
  auto a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return {};
  auto b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

}  // namespace

std::string explain_lost_option(const fs::path& source_dir, const std::string& symbol,
                                const std::map<std::string, std::string>& final_config) {
  const std::regex defn("^\\s*(menu)?config\\s+" + symbol + "\\s*$");
  static const std::regex sym_token(R"(\b[A-Z][A-Z0-9_]+\b)");
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(source_dir, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (!it->is_regular_file() || it->path().filename().string().rfind("Kconfig", 0) != 0) continue;
    std::ifstream in(it->path());
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      if (!std::regex_match(line, defn)) continue;
      std::vector<std::string> deps;
      std::string l;
      while (std::getline(in, l)) {
        std::string t = trim(l);
        if (starts_new_entry(t)) break;
        if (t.rfind("depends on", 0) == 0) deps.push_back(trim(t.substr(10)));
      }
      fs::path rel = fs::relative(it->path(), source_dir, ec);
      std::string where = fmt::format("{}:{}", rel.string(), lineno);
      if (deps.empty()) return fmt::format("defined at {} with no 'depends on'; an enclosing if/menu may be off", where);
      std::string out = fmt::format("defined at {}:", where);
      for (auto& d : deps) {
        std::set<std::string> syms;
        for (auto m = std::sregex_iterator(d.begin(), d.end(), sym_token); m != std::sregex_iterator(); ++m)
          syms.insert(m->str());
        std::string vals;
        for (auto& s : syms) {
          auto f = final_config.find(s);
          vals += fmt::format("{}{}={}", vals.empty() ? "" : " ", s, f == final_config.end() ? "n" : f->second);
        }
        out += fmt::format(" depends on {} [{}];", d, vals);
      }
      out.pop_back();
      return out;
    }
  }
  return "no such option in this kernel source";
}

std::string format_lost_options(const std::vector<LostOption>& lost) {
  std::string out;
  for (auto& l : lost) {
    std::string want = l.requested.value == "n" ? "not set" : "=" + l.requested.value;
    std::string got = l.actual == "n" ? "not set" : "=" + l.actual;
    out += fmt::format("  {}:{}: CONFIG_{} wanted {}, got {}: {}\n", l.requested.file.string(), l.requested.line,
                       l.requested.symbol, want, got, l.explanation);
  }
  return out;
}

}  // namespace fb
