// Polls every data source on an interval and publishes an immutable
// snapshot. Each source is isolated: a failing one keeps its last good data
// and says so in tcpstate_source_up, the others carry on. In namespace mode
// "all", every other network namespace of the node is read by one long-lived
// thread that enters it (poller/namespace_thread.h), so the poll thread itself
// never changes namespace; each namespace's read has a deadline.

#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>

#include "aggregate/close_wait_tracker.h"
#include "config/config.h"
#include "config/reload_failure.h"
#include "netlink/netlink_transport.h"
#include "netlink/tcp_table_reader.h"
#include "netns/netns_discovery.h"
#include "netns/pod_identifier.h"
#include "poller/namespace_thread.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_sink.h"
#include "procfs/proc_owner_directory.h"

namespace tcpstate {

class PollAggregator;

class Poller {
 public:
  Poller(Config config, std::unique_ptr<TransportFactory> transports, SnapshotSink& output);
  ~Poller();

  // One poll of every source; publishes the result. Returns true when every
  // socket table was read.
  bool PollOnce();

  // Polls every interval until `stop` is requested.
  void Run(std::stop_token stop);

  // Takes effect at the next poll (thread-safe).
  void UpdateConfig(Config config);
  // The outcome of a reload (thread-safe): republishes the latest snapshot
  // with it at once, rather than at the next poll.
  void ReloadSucceeded();
  void ReloadFailed(const ReloadFailure& failure);

  // Unix time of the latest successful poll, 0 before; safe from any thread.
  double last_success_unix() const { return last_success_unix_.load(); }

  // /readyz: a poll succeeded within max(60 s, 3 poll intervals) of
  // `now_unix`, with the interval in force now (a reload changes it). Safe
  // from any thread.
  bool ReadyAt(double now_unix) const;
  bool Ready() const;

  // What the poll thread is doing now ("reading sysctls below /proc/sys/net",
  // "waiting for the next poll"...), for the warning when a poll does not end
  // at shutdown; safe from any thread.
  std::string activity() const;

 private:
  // A network namespace followed across polls (key 0 in host mode).
  struct Target {
    NetnsInfo netns;  // empty in host mode
    TargetData data;
    std::unique_ptr<CloseWaitTracker> tracker;
    bool identity_final = false;  // pod names may still arrive while false
    // Pod namespaces' sysctls change rarely: re-read every kPodSysctlRefresh.
    std::chrono::steady_clock::time_point sysctls_read_at{};
  };
  // One namespace's work in one poll.
  struct Visit;

  void ApplyPendingConfig();
  std::vector<Target*> SelectTargets();
  void VisitTarget(Visit& visit, bool entered);
  void ReadKernel(Visit& visit, bool entered);
  bool ReadSockets(std::vector<Visit>& visits);
  void SetActivity(std::string what);
  std::unique_ptr<ProcOwnerDirectory> MakeOwnerDirectory();
  std::unique_ptr<PodIdentifier> MakePodIdentifier() const;
  // Publishes published_ with the current reload status; publish_mutex_ held.
  void PublishLocked();
  void RecordReload(const ReloadFailure* failure);

  Config config_;
  std::unique_ptr<TransportFactory> transports_;
  SnapshotSink& output_;
  std::unique_ptr<TcpTableReader> reader_;
  std::unique_ptr<ProcOwnerDirectory> owners_;
  std::unique_ptr<PodIdentifier> pods_;
  std::unique_ptr<NamespaceThread> namespace_thread_;  // mode all: enters pods
  std::map<uint64_t, Target> targets_;
  uint64_t own_netns_ = 0;
  SelfStats self_;
  std::atomic<bool> stopping_{false};
  bool warned_attribution_ = false;
  bool warned_enter_ = false;
  bool warned_discovery_ = false;
  std::string last_error_;

  std::mutex pending_mutex_;
  std::optional<Config> pending_config_;
  // Both the poll thread and a reload publish: under publish_mutex_, so a
  // snapshot never goes out with an older reload status than the last one.
  std::mutex publish_mutex_;
  ConfigReloadStats reload_;  // guarded by publish_mutex_
  // The latest poll's, kept to republish a reload's outcome at once.
  std::shared_ptr<const Snapshot> published_;  // guarded by publish_mutex_
  std::atomic<double> last_success_unix_{0};
  std::atomic<double> interval_seconds_{0};  // config_.poll.interval, for other threads
  mutable std::mutex activity_mutex_;
  std::string activity_ = "starting";
};

}  // namespace tcpstate
