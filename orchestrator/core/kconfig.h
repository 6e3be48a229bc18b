#pragma once
// Kernel config files and fragments: parsing with file:line, and verifying that every option a
// fragment asked for survived `make olddefconfig` (CONVENTIONS 13), with the reason when not.
#include "common/result.h"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace fb {

struct KconfigEntry {
  std::string symbol;  // without the CONFIG_ prefix
  std::string value;   // "y", "m", "n" (from "# CONFIG_X is not set"), or the literal value
  std::filesystem::path file;
  int line = 0;
};

struct KconfigFile {
  std::filesystem::path path;
  std::string text;
  std::vector<KconfigEntry> entries;
};

// Parses a .config or a fragment. Lines other than blanks, comments, CONFIG_X=V and
// "# CONFIG_X is not set" are errors naming file:line.
Result<KconfigFile> parse_kconfig(const std::filesystem::path& path, const std::string& text);
Result<KconfigFile> load_kconfig(const std::filesystem::path& path);

// symbol -> value, "n" for not set; later entries win, as in kconfig itself.
std::map<std::string, std::string> to_map(const KconfigFile& f);

struct LostOption {
  KconfigEntry requested;
  std::string actual;       // value after olddefconfig ("n" when absent)
  std::string explanation;  // the Kconfig dependencies and their values, or why unknown
};

std::vector<LostOption> find_lost_options(const std::vector<KconfigFile>& requested,
                                          const std::map<std::string, std::string>& final_config);

// Reads the Kconfig definition of symbol in source_dir and says which dependency is unmet.
std::string explain_lost_option(const std::filesystem::path& source_dir, const std::string& symbol,
                                const std::map<std::string, std::string>& final_config);

std::string format_lost_options(const std::vector<LostOption>& lost);

}  // namespace fb
