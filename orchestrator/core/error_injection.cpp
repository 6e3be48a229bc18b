#include "orchestrator/core/error_injection.h"

#include "common/fd.h"
#include "common/files.h"
#include "orchestrator/core/cache.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <elf.h>
#include <fcntl.h>
#include <map>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace fb {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// include/asm-generic/error-injection.h: enum { EI_ETYPE_NONE, _NULL, _ERRNO, _ERRNO_NULL, _TRUE }
const char* etype_name(int etype) {
  switch (etype) {
    case 1: return "NULL";
    case 2: return "ERRNO";
    case 3: return "ERRNO_NULL";
    case 4: return "TRUE";
    default: return "(unknown)";
  }
}

// A read-only mapping of a whole file.
class MappedFile {
 public:
  static Result<MappedFile> open(const fs::path& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return make_error(ErrorKind::Infra, "{}: {}", path.string(), strerror(errno));
    struct stat st;
    if (fstat(fd.get(), &st) != 0 || st.st_size == 0) return make_error(ErrorKind::Infra, "{}: empty", path.string());
    void* p = mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (p == MAP_FAILED) return make_error(ErrorKind::Infra, "mmap {}: {}", path.string(), strerror(errno));
    MappedFile m;
    m.data_ = static_cast<const unsigned char*>(p);
    m.size_ = static_cast<std::size_t>(st.st_size);
    return m;
  }
  MappedFile(MappedFile&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile& operator=(MappedFile&&) = delete;
  ~MappedFile() {
    if (data_) munmap(const_cast<unsigned char*>(data_), size_);
  }
  // A T at offset, or null when it would run past the end.
  template <class T>
  const T* at(std::uint64_t offset, std::uint64_t count = 1) const {
    if (offset > size_ || count > (size_ - offset) / sizeof(T)) return nullptr;
    return reinterpret_cast<const T*>(data_ + offset);
  }
  std::size_t size() const { return size_; }

 private:
  MappedFile() = default;
  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace

bool ErrorInjectionList::contains(const std::string& function) const {
  for (auto& f : functions)
    if (f.function == function) return true;
  return false;
}

Result<ErrorInjectionList> read_error_injection_list(const fs::path& vmlinux) {
  auto file = MappedFile::open(vmlinux);
  if (!file) return file.error();
  auto bad = [&](const char* why) { return make_error(ErrorKind::Infra, "{}: {}", vmlinux.string(), why); };
  auto* eh = file->at<Elf64_Ehdr>(0);
  if (!eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_ident[EI_DATA] != ELFDATA2LSB)
    return bad("not a little-endian ELF64 file");
  auto* sections = file->at<Elf64_Shdr>(eh->e_shoff, eh->e_shnum);
  if (!sections || eh->e_shentsize != sizeof(Elf64_Shdr)) return bad("bad section headers");

  std::map<std::uint64_t, std::string> functions;  // address -> name
  std::uint64_t start = 0, stop = 0;
  for (unsigned i = 0; i < eh->e_shnum; ++i) {
    const Elf64_Shdr& sh = sections[i];
    if (sh.sh_type != SHT_SYMTAB || sh.sh_link >= eh->e_shnum) continue;
    const Elf64_Shdr& strtab = sections[sh.sh_link];
    auto* syms = file->at<Elf64_Sym>(sh.sh_offset, sh.sh_size / sizeof(Elf64_Sym));
    auto* strs = file->at<char>(strtab.sh_offset, strtab.sh_size);
    if (!syms || !strs) return bad("bad symbol table");
    for (std::uint64_t k = 0; k < sh.sh_size / sizeof(Elf64_Sym); ++k) {
      if (syms[k].st_name >= strtab.sh_size) continue;
      const char* name = strs + syms[k].st_name;
      std::size_t len = strnlen(name, strtab.sh_size - syms[k].st_name);
      std::string n(name, len);
      if (n == "__start_error_injection_whitelist") start = syms[k].st_value;
      else if (n == "__stop_error_injection_whitelist") stop = syms[k].st_value;
      else if (ELF64_ST_TYPE(syms[k].st_info) == STT_FUNC) functions.emplace(syms[k].st_value, n);
    }
  }
  if (!start || stop < start) return bad("no __start/__stop_error_injection_whitelist symbols (not a vmlinux with CONFIG_FUNCTION_ERROR_INJECTION?)");
  // struct error_injection_entry { unsigned long addr; int etype; } padded to 16 bytes
  struct Entry {
    std::uint64_t addr;
    std::int32_t etype;
    std::int32_t pad;
  };
  ErrorInjectionList list;
  list.source = "vmlinux";
  if (stop == start) return list;
  for (unsigned i = 0; i < eh->e_shnum; ++i) {
    const Elf64_Shdr& sh = sections[i];
    if (sh.sh_type == SHT_NOBITS || start < sh.sh_addr || stop > sh.sh_addr + sh.sh_size) continue;
    auto* entries = file->at<Entry>(sh.sh_offset + (start - sh.sh_addr), (stop - start) / sizeof(Entry));
    if (!entries) return bad("error-injection entries outside the file");
    for (std::uint64_t k = 0; k < (stop - start) / sizeof(Entry); ++k) {
      auto fn = functions.find(entries[k].addr);
      if (fn != functions.end()) list.functions.push_back({fn->second, etype_name(entries[k].etype)});
    }
    return list;
  }
  return bad("no section holds the error-injection entries");
}

namespace {

// Next to a bzImage of faultbox's own kernel cache; any other image by its content.
Result<fs::path> list_file_for(const fs::path& bzimage) {
  std::error_code ec;
  fs::path dir = fs::weakly_canonical(bzimage, ec).parent_path();
  fs::path kernels = fs::weakly_canonical(cache_root() / "kernels", ec);
  if (!kernels.empty() && dir.parent_path() == kernels) return dir / kErrorInjectionFile;
  auto sum = sha256_file(bzimage);
  if (!sum) return sum.error();
  return cache_root() / "error-injection" / (sum->substr(0, 16) + ".json");
}

}  // namespace

Status write_error_injection_list(const fs::path& file, const ErrorInjectionList& list) {
  json j = {{"release", list.release}, {"source", list.source}, {"functions", json::array()}};
  for (auto& f : list.functions) j["functions"].push_back({{"function", f.function}, {"type", f.type}});
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  return write_file_atomic(file, j.dump(1));
}

std::optional<ErrorInjectionList> cached_error_injection_list(const fs::path& bzimage) {
  auto file = list_file_for(bzimage);
  if (!file) return std::nullopt;
  auto text = read_file(*file);
  if (!text) return std::nullopt;
  auto j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("functions") || !j["functions"].is_array())
    return std::nullopt;
  ErrorInjectionList list;
  list.release = j.value("release", "");
  list.source = j.value("source", "");
  for (auto& f : j["functions"])
    if (f.is_object()) list.functions.push_back({f.value("function", ""), f.value("type", "")});
  return list;
}

Status cache_error_injection_list(const fs::path& bzimage, const ErrorInjectionList& list) {
  auto file = list_file_for(bzimage);
  if (!file) return file.error();
  return write_error_injection_list(*file, list);
}

std::optional<Error> find_uninjectable_fault(const Scenario& sc, const ErrorInjectionList& list) {
  for (auto& f : sc.faults) {
    if (f.type != "fail_function" && f.type != "bpf_override") continue;
    std::string fn = f.params.value("function", "");
    if (list.contains(fn)) continue;
    return make_error(ErrorKind::Usage,
                      "{}: '{}' is not injectable in kernel {}: it is not in the kernel's error-injection list ({}, "
                      "the same as fail_function/injectable); {} works only on ALLOW_ERROR_INJECTION functions",
                      f.where.str(), fn, list.release.empty() ? "(release unknown)" : list.release,
                      kErrorInjectionListPath, f.type == "bpf_override" ? "bpf_override_return" : "fail_function");
  }
  return std::nullopt;
}

}  // namespace fb
