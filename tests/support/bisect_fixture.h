#pragma once
// The synthetic kernel history of tests/support/make-bisect-fixture.sh (linux-source-6.1, then
// ten commits; `fixture-culprit` drops getname_flags()'s NULL check), made once and cached in
// bisect-fixture/<key> beside the kernels. The bisect tests bisect it; the explore test boots
// the culprit's kernel to find that bug by itself.
#include <filesystem>
#include <string>
#include <vector>

namespace fb::test {

// The fixture repository (made on first use, ~3 min: a copy of the extracted tree and the
// commits). The test fails when `faultbox kernel build` has not extracted linux-source-6.1 yet.
const std::filesystem::path& bisect_fixture_repo();

// `git -C dir ARGS...`'s stdout without its trailing newline; the test fails when git does.
std::string git_in(const std::filesystem::path& dir, const std::vector<std::string>& args);

}  // namespace fb::test
