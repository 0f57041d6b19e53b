#include "procfs/snmp_counters.h"

#include <charconv>
#include <iterator>
#include <string>

#include "common/small_file.h"

namespace tcpstate {
namespace {

constexpr std::string_view kFieldNames[] = {
    "ActiveOpens", "PassiveOpens", "AttemptFails", "EstabResets",
    "RetransSegs", "InErrs",       "OutRsts",
};
static_assert(std::size(kFieldNames) == kSnmpTcpFieldCount);

constexpr std::string_view kPrefix = "Tcp:";
// A kernel line has 15 fields; more than this is not /proc/net/snmp.
constexpr size_t kMaxFields = 256;

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

std::string_view SnmpTcpFieldName(SnmpTcpField field) {
  return kFieldNames[static_cast<size_t>(field)];
}

Result<std::vector<SnmpTcpCounter>> ParseSnmpTcpCounters(std::string_view snmp) {
  size_t pos = 0;
  while (pos < snmp.size()) {
    const std::string_view header = NextLine(snmp, &pos);
    if (!header.starts_with(kPrefix)) continue;
    if (pos >= snmp.size()) break;
    const std::string_view values_line = NextLine(snmp, &pos);
    if (!values_line.starts_with(kPrefix)) {
      return MakeError(ErrorKind::kInvalid, "snmp: Tcp header without a value line");
    }
    std::vector<std::string_view> names;
    std::vector<std::string_view> values;
    if (!Split(header.substr(kPrefix.size()), &names) ||
        !Split(values_line.substr(kPrefix.size()), &values)) {
      return MakeError(ErrorKind::kInvalid, "snmp: too many Tcp fields");
    }
    if (names.size() != values.size()) {
      return MakeError(ErrorKind::kInvalid, "snmp: Tcp header and value counts differ");
    }
    std::vector<SnmpTcpCounter> counters;
    for (size_t f = 0; f < kSnmpTcpFieldCount; ++f) {
      for (size_t k = 0; k < names.size(); ++k) {
        if (names[k] != kFieldNames[f]) continue;
        uint64_t value = 0;
        const char* end = values[k].data() + values[k].size();
        auto [ptr, ec] = std::from_chars(values[k].data(), end, value);
        if (ec != std::errc() || ptr != end) {
          return MakeError(ErrorKind::kInvalid,
                           "snmp: bad value for " + std::string(kFieldNames[f]));
        }
        counters.push_back({static_cast<SnmpTcpField>(f), value});
        break;
      }
    }
    return counters;
  }
  return MakeError(ErrorKind::kInvalid, "snmp: no Tcp section");
}

Result<std::vector<SnmpTcpCounter>> ReadSnmpTcpCounters(const std::filesystem::path& net_dir) {
  auto content = ReadSmallFile((net_dir / "snmp").string(), 64 * 1024);
  if (!content.ok()) return content.error();
  return ParseSnmpTcpCounters(*content);
}

}  // namespace tcpstate
