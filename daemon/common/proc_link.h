// Parses the targets of /proc "anonymous" links: "socket:[12345]" in
// /proc/<pid>/fd, "net:[4026531840]" in /proc/<pid>/ns.
#pragma once

#include <charconv>
#include <string_view>

namespace tcpstate {

// "<type>:[<number>]" -> number; false for any other text.
template <typename Number>
bool ParseProcLink(std::string_view link, std::string_view type, Number* number) {
  if (link.size() < type.size() + 4 || link.substr(0, type.size()) != type ||
      link.substr(type.size(), 2) != ":[" || link.back() != ']') {
    return false;
  }
  const char* begin = link.data() + type.size() + 2;
  const char* end = link.data() + link.size() - 1;
  auto [ptr, ec] = std::from_chars(begin, end, *number);
  return ec == std::errc() && ptr == end;
}

}  // namespace tcpstate
