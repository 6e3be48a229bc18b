#pragma once
#include "common/result.h"

#include <filesystem>
#include <string>

namespace fb {

Result<std::string> read_file(const std::filesystem::path& path);
// For input a person names (a scenario): only a regular file (symlinks followed) of at most
// max_bytes is read; a FIFO, device, socket or directory, or a bigger file, is a Usage error
// naming the path and `what` it should have been. Opened O_NONBLOCK, so a FIFO cannot block.
Result<std::string> read_regular_file(const std::filesystem::path& path, std::size_t max_bytes, const char* what);
// Writes to a sibling temp file and renames it into place, so readers never see half a file.
Status write_file_atomic(const std::filesystem::path& path, std::string_view data, int mode = 0644);
// Copies a file the same way (temp + rename).
Status copy_file_atomic(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace fb
