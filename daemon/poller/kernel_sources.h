// The kernel's own numbers for one network namespace: sysctls (limits that
// give the socket counts their meaning) TcpExt and Tcp (snmp) counters. Each keeps the
// target's last good value when a read fails.
//
// Thread-safety: stateless apart from the configuration; called on the
// thread that is in the target's namespace.
#pragma once

#include <chrono>

#include "common/result.h"
#include "config/config.h"
#include "poller/namespace_targets.h"

namespace tcpstate {

// <proc>/sys/net follows the namespace of the thread that opens it.
class SysctlSource {
 public:
  // A pod's sysctls (limits a pod rarely changes) are re-read this often,
  // the node's every poll: 15 file reads per pod and poll otherwise.
  static constexpr std::chrono::seconds kPodRefresh{60};

  explicit SysctlSource(const Config& config) : config_(config) {}
  // Updates target.data.kernel; values read less than kPodRefresh ago count
  // as a success without a read.
  Status Read(Target& target) const;

 private:
  const Config& config_;
};

// <proc>/net is the main thread's namespace; an entered thread reads
// <proc>/thread-self/net.
class NetstatSource {
 public:
  explicit NetstatSource(const Config& config) : config_(config) {}
  // Updates target.data.tcpext.
  Status Read(Target& target, bool entered) const;

 private:
  const Config& config_;
};

// <proc>/net/snmp's Tcp counters, from the same directory as NetstatSource.
class SnmpSource {
 public:
  explicit SnmpSource(const Config& config) : config_(config) {}
  // Updates target.data.snmp_tcp.
  Status Read(Target& target, bool entered) const;

 private:
  const Config& config_;
};

}  // namespace tcpstate
