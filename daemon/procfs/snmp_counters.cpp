#include "procfs/snmp_counters.h"

#include <iterator>

#include "common/small_file.h"
#include "procfs/proc_net_section.h"

namespace tcpstate {
namespace {

constexpr std::string_view kFieldNames[] = {
    "ActiveOpens", "PassiveOpens", "AttemptFails", "EstabResets",
    "RetransSegs", "InErrs",       "OutRsts",
};
static_assert(std::size(kFieldNames) == kSnmpTcpFieldCount);

}  // namespace

std::string_view SnmpTcpFieldName(SnmpTcpField field) {
  return kFieldNames[static_cast<size_t>(field)];
}

Result<std::vector<SnmpTcpCounter>> ParseSnmpTcpCounters(std::string_view snmp) {
  return ParseProcNetCounters<SnmpTcpCounter>(snmp, "Tcp:", kFieldNames, "snmp");
}

Result<std::vector<SnmpTcpCounter>> ReadSnmpTcpCounters(const std::filesystem::path& net_dir) {
  auto content = ReadSmallFile((net_dir / "snmp").string(), 64 * 1024);
  if (!content.ok()) return content.error();
  return ParseSnmpTcpCounters(*content);
}

}  // namespace tcpstate
