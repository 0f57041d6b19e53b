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

// The TcpExt fields read (metrics/kernel_metrics.h names them), in the
// order they are published.
enum class TcpExtField : uint8_t {
  kTW,
  kTWRecycled,
  kTWKilled,
  kTCPTimeWaitOverflow,
  kListenOverflows,
  kListenDrops,
  kTCPAbortOnClose,
  kTCPAbortOnTimeout,
};
inline constexpr size_t kTcpExtFieldCount = 8;

// The kernel's name of `field` in /proc/net/netstat, e.g. "TCPTimeWaitOverflow".
std::string_view TcpExtFieldName(TcpExtField field);

struct TcpExtCounter {
  TcpExtField field;
  uint64_t value;
};

// Parses the file's "TcpExt:" header/value line pair. Fields this kernel does
// not have are left out.
Result<std::vector<TcpExtCounter>> ParseTcpExtCounters(std::string_view netstat);

// Reads <net_dir>/netstat: <proc>/net for the exporter's own namespace,
// <proc>/thread-self/net for the namespace the calling thread entered.
Result<std::vector<TcpExtCounter>> ReadTcpExtCounters(const std::filesystem::path& net_dir);

}  // namespace tcpstate
