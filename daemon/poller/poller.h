// Polls every data source on an interval and publishes an immutable
// snapshot to a SnapshotSink. The poller orchestrates; the sources read:
//   NamespaceTargets  which namespaces, and entering them (namespace_targets.h)
//   SockDiagSource    the socket table of one namespace (sock_diag_source.h)
//   SysctlSource, NetstatSource  kernel limits and counters (kernel_sources.h)
//   ProcessSource     socket owners over /proc (process_source.h)
// SourceRecorder records each source's success and duration. A failing source
// keeps its last good data and says so in tcpstate_source_up; the others
// carry on. Each namespace's read has a deadline.
//
// Thread-safety: PollOnce/Run on one thread (the poll thread); UpdateConfig,
// ReloadSucceeded/Failed, Ready*, last_success_unix and activity from any.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/reload_failure.h"
#include "netlink/netlink_transport.h"
#include "poller/kernel_sources.h"
#include "poller/namespace_targets.h"
#include "poller/process_source.h"
#include "poller/sock_diag_source.h"
#include "poller/source_recorder.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_sink.h"

namespace tcpstate {

class Poller {
 public:
  Poller(Config config, std::unique_ptr<TransportFactory> transports, SnapshotSink& output);
  ~Poller();

  // One poll of every source; publishes the result. Returns true when every
  // socket table was read.
  bool PollOnce();

  // Polls every interval until `stop` is requested.
  void Run(std::stop_token stop);

  // Takes effect at the next poll.
  void UpdateConfig(Config config);
  // The outcome of a reload: republishes the latest snapshot with it at
  // once, rather than at the next poll.
  void ReloadSucceeded();
  void ReloadFailed(const ReloadFailure& failure);

  // Unix time of the latest successful poll, 0 before.
  double last_success_unix() const { return last_success_unix_.load(); }

  // /readyz: a poll succeeded within max(60 s, 3 poll intervals) of
  // `now_unix`, with the interval in force now (a reload changes it).
  bool ReadyAt(double now_unix) const;
  bool Ready() const;

  // What the poll thread is doing now ("reading sysctls below /proc/sys/net",
  // "waiting for the next poll"...), for the warning when a poll does not end
  // at shutdown.
  std::string activity() const;

 private:
  struct Visit;  // one namespace's work in one poll

  void ApplyPendingConfig();
  void VisitTarget(Visit& visit, bool entered);
  bool ReadSockets(std::vector<Visit>& visits);
  void Attribute(std::vector<Visit>& visits);
  void SetActivity(std::string what);
  // Publishes published_ with the current reload status; publish_mutex_ held.
  void PublishLocked();
  void RecordReload(const ReloadFailure* failure);

  Config config_;
  std::unique_ptr<TransportFactory> transports_;
  SnapshotSink& output_;
  std::atomic<bool> stopping_{false};
  NamespaceTargets targets_;
  SockDiagSource sock_diag_;
  SysctlSource sysctls_;
  NetstatSource netstat_;
  SnmpSource snmp_;
  std::unique_ptr<ProcessSource> processes_;  // null when attribution is off
  SourceRecorder recorder_;
  SelfStats self_;

  std::mutex pending_mutex_;
  std::optional<Config> pending_config_;  // guarded by pending_mutex_
  // Both the poll thread and a reload publish: under publish_mutex_, so a
  // snapshot never goes out with an older reload status than the last one.
  std::mutex publish_mutex_;
  ConfigReloadStats reload_;  // guarded by publish_mutex_
  // The latest poll's, kept to republish a reload's outcome at once.
  std::shared_ptr<const Snapshot> published_;  // guarded by publish_mutex_
  std::atomic<double> last_success_unix_{0};
  std::atomic<double> interval_seconds_{0};  // config_.poll.interval, for other threads
  mutable std::mutex activity_mutex_;
  std::string activity_ = "starting";  // guarded by activity_mutex_
};

}  // namespace tcpstate
