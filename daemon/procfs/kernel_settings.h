// Kernel limits that give the socket counts their meaning, read from
// <proc>/sys (sysctls of the reader's network namespace).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace tcpstate {

// The sysctls read (metrics/kernel_metrics.h names them). Numbered in the
// order they are read and published.
enum class Sysctl : uint8_t {
  kTcpMaxTwBuckets,
  kIpLocalPortRangeLow,
  kIpLocalPortRangeHigh,
  kTcpFinTimeout,
  kTcpTwReuse,
  kTcpKeepaliveTime,
  kTcpKeepaliveIntvl,
  kTcpKeepaliveProbes,
  kSomaxconn,
  kTcpMaxSynBacklog,
  kTcpMaxOrphans,
  kTcpEhashEntries,
  kTcpChildEhashEntries,
  // net.ipv4.tcp_mem (pages, read as bytes): below low no pressure, from
  // pressure on the kernel shrinks buffers, at high allocations fail.
  kTcpMemLow,
  kTcpMemPressure,
  kTcpMemHigh,
  // Not a sysctl: /proc/net/sockstat "TCP: ... mem N", the pages all TCP
  // sockets hold now (a node-wide count), read as bytes.
  kTcpMemoryInUse,
};
inline constexpr size_t kSysctlCount = 17;

struct KernelSetting {
  Sysctl sysctl;
  int64_t value;
};

struct KernelSettings {
  std::vector<KernelSetting> values;
  std::vector<std::string> missing;  // sysctls that could not be read
};

// Reads every known sysctl. A missing one (older kernel, no permission) is
// listed, never fatal; the whole read fails only if none could be read.
Result<KernelSettings> ReadKernelSettings(const std::filesystem::path& proc_root);

// The `ip_local_port_range` pair from the same settings, if present.
struct EphemeralRange {
  uint16_t low = 32768;
  uint16_t high = 60999;
};
EphemeralRange EphemeralRangeOf(const KernelSettings& settings);

}  // namespace tcpstate
