#include "procfs/proc_net_section.h"

#include <charconv>
#include <string>

namespace tcpstate {
namespace {

// A kernel line has up to ~130 fields (TcpExt); more is not a /proc file.
constexpr size_t kMaxFields = 1024;

// Space-separated words; false past kMaxFields.
bool Split(std::string_view line, std::vector<std::string_view>* words) {
  size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    if (pos >= line.size()) break;
    size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) end = line.size();
    if (words->size() == kMaxFields) return false;
    words->push_back(line.substr(pos, end - pos));
    pos = end;
  }
  return true;
}

std::string_view NextLine(std::string_view text, size_t* pos) {
  size_t end = text.find('\n', *pos);
  if (end == std::string_view::npos) end = text.size();
  const std::string_view line = text.substr(*pos, end - *pos);
  *pos = end + 1;
  return line;
}

}  // namespace

Result<std::vector<SectionValue>> ParseProcNetSection(std::string_view text,
                                                      std::string_view prefix,
                                                      std::span<const std::string_view> wanted,
                                                      std::string_view file) {
  const std::string section(prefix.substr(0, prefix.size() - (prefix.ends_with(':') ? 1 : 0)));
  auto error = [&](const std::string& what) {
    return MakeError(ErrorKind::kInvalid, std::string(file) + ": " + what);
  };
  size_t pos = 0;
  while (pos < text.size()) {
    const std::string_view header = NextLine(text, &pos);
    if (!header.starts_with(prefix)) continue;
    if (pos >= text.size()) break;
    const std::string_view values_line = NextLine(text, &pos);
    if (!values_line.starts_with(prefix)) return error(section + " header without a value line");
    std::vector<std::string_view> names;
    std::vector<std::string_view> values;
    if (!Split(header.substr(prefix.size()), &names) ||
        !Split(values_line.substr(prefix.size()), &values)) {
      return error("too many " + section + " fields");
    }
    if (names.size() != values.size()) return error(section + " header and value counts differ");
    std::vector<SectionValue> found;
    for (size_t f = 0; f < wanted.size(); ++f) {
      for (size_t k = 0; k < names.size(); ++k) {
        if (names[k] != wanted[f]) continue;
        uint64_t value = 0;
        const char* end = values[k].data() + values[k].size();
        auto [ptr, ec] = std::from_chars(values[k].data(), end, value);
        if (ec != std::errc() || ptr != end)
          return error("bad value for " + std::string(wanted[f]));
        found.push_back({f, value});
        break;
      }
    }
    return found;
  }
  return error("no " + section + " section");
}

}  // namespace tcpstate
