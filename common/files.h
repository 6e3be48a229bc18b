#pragma once
#include "common/result.h"

#include <filesystem>
#include <string>

namespace fb {

Result<std::string> read_file(const std::filesystem::path& path);
// Writes to a sibling temp file and renames it into place, so readers never see half a file.
Status write_file_atomic(const std::filesystem::path& path, std::string_view data, int mode = 0644);
// Copies a file the same way (temp + rename).
Status copy_file_atomic(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace fb
