#pragma once
// The one-value text files of proc, sysfs, debugfs, tracefs and configfs, which every fault
// module reads and writes.
#include "common/result.h"

#include <fcntl.h>

#include <string>
#include <vector>

namespace fb::agent {

// Writes value (no newline added); the error says which file and why.
Status write_text(const std::string& path, const std::string& value, int flags = O_WRONLY);
// The file's text without trailing newlines and spaces; "" when it cannot be read.
std::string read_text(const std::string& path);
// The names in a directory (no dot entries), sorted; empty when it cannot be read.
std::vector<std::string> dir_entries(const std::string& dir);

}  // namespace fb::agent
