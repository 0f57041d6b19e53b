#include "procfs/tcpext_counters.h"

#include <iterator>

#include "common/small_file.h"
#include "procfs/proc_net_section.h"

namespace tcpstate {
namespace {

constexpr std::string_view kFieldNames[] = {
    "TW",          "TWRecycled",      "TWKilled",          "TCPTimeWaitOverflow", "ListenOverflows",
    "ListenDrops", "TCPAbortOnClose", "TCPAbortOnTimeout",
};
static_assert(std::size(kFieldNames) == kTcpExtFieldCount);

}  // namespace

std::string_view TcpExtFieldName(TcpExtField field) {
  return kFieldNames[static_cast<size_t>(field)];
}

Result<std::vector<TcpExtCounter>> ParseTcpExtCounters(std::string_view netstat) {
  return ParseProcNetCounters<TcpExtCounter>(netstat, "TcpExt:", kFieldNames, "netstat");
}

Result<std::vector<TcpExtCounter>> ReadTcpExtCounters(const std::filesystem::path& net_dir) {
  auto content = ReadSmallFile((net_dir / "netstat").string(), 256 * 1024);
  if (!content.ok()) return content.error();
  return ParseTcpExtCounters(*content);
}

}  // namespace tcpstate
