#include "procfs/proc_limits.h"

#include <charconv>
#include <string>

#include "common/small_file.h"

namespace tcpstate {
namespace {

constexpr std::string_view kLine = "Max open files";

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

// The next word after *pos, skipping blanks; empty at the end of the line.
std::string_view NextWord(std::string_view line, size_t* pos) {
  while (*pos < line.size() && IsSpace(line[*pos])) ++*pos;
  const size_t start = *pos;
  while (*pos < line.size() && !IsSpace(line[*pos])) ++*pos;
  return line.substr(start, *pos - start);
}

bool ParseLimit(std::string_view word, int64_t* value) {
  if (word == "unlimited") {
    *value = -1;
    return true;
  }
  const char* end = word.data() + word.size();
  auto [ptr, ec] = std::from_chars(word.data(), end, *value);
  return !word.empty() && ec == std::errc() && ptr == end && *value >= 0;
}

}  // namespace

Result<OpenFilesLimit> ParseOpenFilesLimit(std::string_view limits) {
  size_t pos = 0;
  while (pos < limits.size()) {
    size_t end = limits.find('\n', pos);
    if (end == std::string_view::npos) end = limits.size();
    const std::string_view line = limits.substr(pos, end - pos);
    pos = end + 1;
    // The name column is padded: "Max open files            1024 ...".
    if (!line.starts_with(kLine) || line.size() == kLine.size() || !IsSpace(line[kLine.size()])) {
      continue;
    }
    size_t at = kLine.size();
    OpenFilesLimit limit;
    if (!ParseLimit(NextWord(line, &at), &limit.soft) ||
        !ParseLimit(NextWord(line, &at), &limit.hard)) {
      return MakeError(ErrorKind::kInvalid, "limits: bad Max open files line");
    }
    return limit;
  }
  return MakeError(ErrorKind::kInvalid, "limits: no Max open files line");
}

Result<OpenFilesLimit> ReadOpenFilesLimit(const std::filesystem::path& proc_root, int32_t pid) {
  auto content = ReadSmallFile((proc_root / std::to_string(pid) / "limits").string(), 8 * 1024);
  if (!content.ok()) return content.error();
  return ParseOpenFilesLimit(*content);
}

}  // namespace tcpstate
