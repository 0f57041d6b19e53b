// The network namespaces a poll reads, followed across polls: in mode "all"
// discovery below <proc>, pod identity (netns/pod_identifier.h) and entering
// each namespace on one long-lived thread (poller/namespace_thread.h); in host
// mode one target, the exporter's own namespace, key 0.
//
// Thread-safety: the poll thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "aggregate/close_wait_tracker.h"
#include "config/config.h"
#include "netns/netns_discovery.h"
#include "netns/pod_identifier.h"
#include "poller/namespace_thread.h"
#include "snapshot/snapshot.h"

namespace tcpstate {

// A network namespace followed across polls.
struct Target {
  NetnsInfo netns;  // empty in host mode
  TargetData data;  // what it publishes: the last good data of each source
  std::unique_ptr<CloseWaitTracker> tracker;
  bool identity_final = false;  // pod names may still arrive while false
  std::chrono::steady_clock::time_point sysctls_read_at{};

  // A pod's namespace (not the node's, not host mode).
  bool pod() const { return netns.inode != 0 && !netns.host; }
};

class NamespaceTargets {
 public:
  // What the poll thread is doing, for the shutdown warning.
  using Activity = std::function<void(std::string)>;

  // `config` is the poller's, which outlives this and changes only between
  // polls (Reconfigure).
  NamespaceTargets(const Config& config, Activity activity);
  ~NamespaceTargets();

  // After a reload: trackers take the new cap; a new mode or pod-name source
  // starts afresh (labels change).
  void Reconfigure(bool mode_changed);

  // The targets of this poll, in publishing order: host first, then by
  // inode. Namespaces that are gone are forgotten.
  std::vector<Target*> Select(NetnsStats& stats);

  // Runs `read(entered)` in the target's namespace: on the calling thread for
  // the exporter's own, after entering it on the namespace thread otherwise.
  // False when it could not be opened or entered (vanished, no privileges),
  // counted in `stats`; then `read` did not run.
  bool RunIn(Target& target, NetnsStats& stats, const std::function<void(bool entered)>& read);

  // After the poll's reads: leave the last pod's namespace.
  void ReturnHome();

  uint64_t own_netns() const { return own_netns_; }
  uint64_t close_wait_tracked() const;

 private:
  std::unique_ptr<PodIdentifier> MakePodIdentifier() const;
  std::unique_ptr<CloseWaitTracker> MakeTracker() const;

  const Config& config_;
  Activity activity_;
  uint64_t own_netns_ = 0;
  std::unique_ptr<PodIdentifier> pods_;
  std::unique_ptr<NamespaceThread> thread_;  // started at the first pod
  std::map<uint64_t, Target> targets_;
  bool warned_enter_ = false;
  bool warned_discovery_ = false;
};

}  // namespace tcpstate
