// TcpExt counters from <proc>/net/netstat: the kernel's own record of
// TIME_WAIT recycling, overflows and listen-queue drops.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tcpstate {

struct TcpExtCounter {
  std::string metric;  // without the tcpstate_tcpext_ prefix and _total
  std::string field;   // kernel name, e.g. "TCPTimeWaitOverflow"
  std::string help;
  uint64_t value;
};

// Parses the file's "TcpExt:" header/value line pair. Fields this kernel does
// not have are left out.
Result<std::vector<TcpExtCounter>> ParseTcpExtCounters(std::string_view netstat);

// Reads <net_dir>/netstat: <proc>/net for the exporter's own namespace,
// <proc>/thread-self/net for the namespace the calling thread entered.
Result<std::vector<TcpExtCounter>> ReadTcpExtCounters(const std::filesystem::path& net_dir);

}  // namespace tcpstate
