#include "procfs/tcpext_counters.h"

#include <charconv>
#include <fstream>
#include <iterator>
#include <sstream>

#include "common/small_file.h"

namespace tcpstate {
namespace {

constexpr std::string_view kFieldNames[] = {
    "TW",          "TWRecycled",      "TWKilled",          "TCPTimeWaitOverflow", "ListenOverflows",
    "ListenDrops", "TCPAbortOnClose", "TCPAbortOnTimeout",
};
static_assert(std::size(kFieldNames) == kTcpExtFieldCount);

std::vector<std::string_view> Split(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    if (pos >= line.size()) break;
    size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) end = line.size();
    fields.push_back(line.substr(pos, end - pos));
    pos = end;
  }
  return fields;
}

}  // namespace

std::string_view TcpExtFieldName(TcpExtField field) {
  return kFieldNames[static_cast<size_t>(field)];
}

Result<std::vector<TcpExtCounter>> ParseTcpExtCounters(std::string_view netstat) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < netstat.size()) {
    size_t end = netstat.find('\n', pos);
    if (end == std::string_view::npos) end = netstat.size();
    lines.push_back(netstat.substr(pos, end - pos));
    pos = end + 1;
  }
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    if (lines[i].substr(0, 7) != "TcpExt:" || lines[i + 1].substr(0, 7) != "TcpExt:") {
      continue;
    }
    const auto names = Split(lines[i].substr(7));
    const auto values = Split(lines[i + 1].substr(7));
    if (names.size() != values.size()) {
      return MakeError(ErrorKind::kInvalid, "netstat: TcpExt header and value counts differ");
    }
    std::vector<TcpExtCounter> counters;
    for (size_t f = 0; f < kTcpExtFieldCount; ++f) {
      const auto field = static_cast<TcpExtField>(f);
      for (size_t k = 0; k < names.size(); ++k) {
        if (names[k] != kFieldNames[f]) continue;
        uint64_t value = 0;
        auto [ptr, ec] =
            std::from_chars(values[k].data(), values[k].data() + values[k].size(), value);
        if (ec != std::errc() || ptr != values[k].data() + values[k].size()) {
          return MakeError(ErrorKind::kInvalid,
                           "netstat: bad value for " + std::string(kFieldNames[f]));
        }
        counters.push_back({field, value});
      }
    }
    return counters;
  }
  return MakeError(ErrorKind::kInvalid, "netstat: no TcpExt section");
}

Result<std::vector<TcpExtCounter>> ReadTcpExtCounters(const std::filesystem::path& net_dir) {
  auto content = ReadSmallFile((net_dir / "netstat").string(), 256 * 1024);
  if (!content.ok()) return content.error();
  return ParseTcpExtCounters(*content);
}

}  // namespace tcpstate
