// What one poll publishes: per network namespace the last good data of every
// source, and the exporter's own statistics. Immutable once published.
//
// Thread-safety: a published Snapshot is immutable and shared by pointer
// between the poll thread, a reload and the HTTP workers.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "aggregate/socket_table.h"
#include "config/reload_failure.h"
#include "netlink/read_failure.h"
#include "netns/pod_identity_failure.h"
#include "procfs/attribution_stats.h"
#include "procfs/kernel_settings.h"
#include "procfs/snmp_counters.h"
#include "procfs/tcpext_counters.h"

namespace tcpstate {

// The data sources of a poll: tcpstate_source_up{source=SourceName(s)}.
// Numbered in the order their series are published. Ends with kCount.
enum class Source : uint8_t { kNetstat, kProcess, kSnmp, kSockDiag, kSysctl, kCount };
inline constexpr size_t kSourceCount = static_cast<size_t>(Source::kCount);
std::string_view SourceName(Source source);

struct SourceStatus {
  bool up = false;
  double duration_seconds = 0;
};

// One network namespace's data. In host mode there is one, without labels.
struct TargetData {
  std::vector<std::pair<std::string, std::string>> labels;  // netns, pod_uid...
  // Each source keeps its last good value; null until it first succeeded.
  std::shared_ptr<const SocketTable> sockets;
  std::shared_ptr<const KernelSettings> kernel;
  std::shared_ptr<const std::vector<TcpExtCounter>> tcpext;
  std::shared_ptr<const std::vector<SnmpTcpCounter>> snmp_tcp;
  // The latest poll could not read this namespace's socket table (failed or
  // past its deadline): `sockets` is from an earlier poll.
  bool stale = false;
};

struct NetnsStats {
  bool all_mode = false;
  uint64_t read = 0;                     // namespaces read in the latest poll
  uint64_t over_cap = 0;                 // beyond namespaces.max in the latest poll
  uint64_t vanished_total = 0;           // gone between discovery and dump
  uint64_t enter_failures_total = 0;     // setns or open refused (privileges)
  uint64_t unreadable = 0;               // processes whose namespace we may not see
  uint64_t deadline_exceeded_total = 0;  // reads cut at namespaces.read_timeout
  // Pod identity (netns/pod_identifier.h): why names could not be read.
  std::array<uint64_t, kPodIdentityFailureCount>
      pod_identity_failures_total{};  // by PodIdentityFailure
  uint64_t pod_identity_reads_in_flight = 0;
};

// SIGHUP reloads. Published at once when a reload ends, not at the next poll.
struct ConfigReloadStats {
  bool last_successful = true;
  double last_success_timestamp_seconds = 0;  // start-up load, then each applied reload
  uint64_t success_total = 0;
  uint64_t failure_total = 0;
  ReloadFailure failure;  // why the latest reload failed; empty after a success
  bool operator==(const ConfigReloadStats&) const = default;
};

struct SelfStats {
  uint64_t polls_success = 0;
  uint64_t polls_failure = 0;
  bool last_poll_success = false;
  double last_success_timestamp_seconds = 0;
  double poll_duration_seconds = 0;
  uint64_t poll_sockets = 0;
  // Indexed by Source; empty for a source that is off (process attribution).
  std::array<std::optional<SourceStatus>, kSourceCount> sources;
  uint64_t netlink_retries = 0;
  uint64_t netlink_foreign_datagrams = 0;                    // dropped: not sent by the kernel
  std::array<uint64_t, kReadFailureCount> netlink_errors{};  // indexed by ReadFailure
  bool attribution_enabled = false;
  AttributionStats attribution;
  uint64_t owner_cache_sockets = 0;  // entries of the socket owner cache
  uint64_t close_wait_tracked = 0;   // CLOSE_WAIT sockets followed for their age
  ConfigReloadStats config_reload;
  NetnsStats netns;
};

struct Snapshot {
  std::vector<TargetData> targets;
  SelfStats self;
};

}  // namespace tcpstate
