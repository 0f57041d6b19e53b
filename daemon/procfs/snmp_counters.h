// Tcp: counters from <proc>/net/snmp (RFC 1213 tcp group): how many
// connections a network namespace opens, fails and resets. Their rates are
// the churn behind TIME_WAIT: each outbound connection closed first by this
// side leaves one TIME_WAIT socket.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tcpstate {

// The Tcp fields read (metrics/kernel_metrics.h names them), in the order
// they are published.
enum class SnmpTcpField : uint8_t {
  kActiveOpens,
  kPassiveOpens,
  kAttemptFails,
  kEstabResets,
  kRetransSegs,
  kInErrs,
  kOutRsts,
};
inline constexpr size_t kSnmpTcpFieldCount = 7;

// The kernel's name of `field` in /proc/net/snmp, e.g. "ActiveOpens".
std::string_view SnmpTcpFieldName(SnmpTcpField field);

struct SnmpTcpCounter {
  SnmpTcpField field;
  uint64_t value;
};

// Parses the file's "Tcp:" header/value line pair (the first such pair).
// Fields this kernel does not have are left out; other fields (MaxConn is
// -1) are not parsed.
Result<std::vector<SnmpTcpCounter>> ParseSnmpTcpCounters(std::string_view snmp);

// Reads <net_dir>/snmp (a few KiB; cut at 64 KiB): <proc>/net for the
// exporter's own namespace, <proc>/thread-self/net for an entered one.
Result<std::vector<SnmpTcpCounter>> ReadSnmpTcpCounters(const std::filesystem::path& net_dir);

}  // namespace tcpstate
