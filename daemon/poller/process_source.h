// Process attribution: which process owns each socket, over /proc
// (procfs/proc_owner_directory.h). The aggregators ask it during the dumps
// (cache only); after them it looks up, in one /proc scan, the owners of
// every namespace's new sockets.
//
// Thread-safety: the poll thread, and the namespace thread during a read
// while the poll thread waits for it (OwnerDirectory lookups).
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <vector>

#include "config/config.h"
#include "procfs/attribution_stats.h"
#include "procfs/proc_owner_directory.h"

namespace tcpstate {

class ProcessSource {
 public:
  // `stop` (the poller's shutdown flag) cuts a scan short.
  ProcessSource(const Config& config, const std::atomic<bool>* stop);

  OwnerDirectory& owners() { return *owners_; }

  // Start of a poll: re-checks the cached owners.
  void BeginPoll() { owners_->BeginPoll(); }
  // Finds the owners of `pending` inodes, scanning only processes of
  // `namespaces` (netns inodes of the namespaces they were seen in), then
  // measures every owner's open fds and limit.
  void Resolve(std::span<const uint32_t> pending, std::vector<uint64_t> namespaces);
  // End of the poll: drops owners of sockets that are gone. Returns whether
  // attribution worked (false: we may not read other processes' fds).
  bool EndPoll();

  const AttributionStats& stats() const { return owners_->stats(); }
  uint64_t cached_sockets() const { return owners_->cached_sockets(); }

 private:
  std::unique_ptr<ProcOwnerDirectory> owners_;
  bool warned_ = false;
};

}  // namespace tcpstate
