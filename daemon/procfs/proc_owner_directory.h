// Maps socket inodes to owning processes by reading /proc/<pid>/fd links
// (`socket:[<inode>]`). It caches what it learned so that a poll in which no
// socket changed owner reads no fd link at all: cached owners are re-checked
// with one read of /proc/<pid>/stat, and only inodes missing from the cache
// trigger a scan, which visits known owners first and stops as soon as every
// missing inode is found.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/flat_hash_map.h"
#include "config/config.h"
#include "procfs/attribution_stats.h"
#include "procfs/owner_directory.h"

namespace tcpstate {

class ProcOwnerDirectory : public OwnerDirectory {
 public:
  ProcOwnerDirectory(std::filesystem::path proc_root, std::vector<ProcessGroup> groups);

  void BeginPoll() override;
  std::optional<OwnerId> Lookup(uint32_t inode) override;
  void Resolve(std::span<const uint32_t> inodes) override;
  void EndPoll() override;
  const OwnerInfo& Owner(OwnerId id) const override;

  // Limits the next full scans to processes in these network namespaces (a
  // socket is held by a process of its own namespace but in the rarest
  // cases), so a pod with a million fds does not slow down every other
  // namespace's look-ups. Empty: every process. A process whose namespace
  // cannot be read is scanned anyway.
  void SetScanNamespaces(std::vector<uint64_t> netns_inodes) {
    scan_netns_ = std::move(netns_inodes);
  }

  // A flag (the poller's shutdown flag) checked between processes and fd
  // links of a scan: once set, a scan stops within one read and leaves the
  // inodes it did not find uncached (never 'searched and not found').
  void SetStopFlag(const std::atomic<bool>* stop) { stop_ = stop; }

  // Cumulative; read by the poller after each poll.
  const AttributionStats& stats() const { return stats_; }
  size_t cached_sockets() const { return inodes_.size(); }

 private:
  struct OwnerRecord {
    OwnerInfo info;
    uint64_t start_time = 0;
    std::string comm;
    uint64_t sockets = 0;  // cache entries pointing here (scan order)
  };
  // 16 bytes a cached socket with its key (FlatHashMap slot).
  struct InodeEntry {
    OwnerId owner;             // kOwnerUnknown: searched for and not found
    uint32_t last_seen;        // poll number (poll_)
    uint32_t retry_after = 0;  // for kOwnerUnknown entries
  };

  // Scans one process's fds for `wanted` inodes; found ones are cached.
  void ScanProcess(int32_t pid, FlatHashSet<uint32_t>& wanted);
  void ScanForWanted(FlatHashSet<uint32_t>& wanted, std::unordered_set<int32_t>& scanned);
  bool InScannedNamespace(int32_t pid) const;
  OwnerId OwnerFor(int32_t pid, const std::string& comm, uint64_t start_time);
  std::string LabelFor(const std::string& comm) const;

  std::filesystem::path proc_root_;
  std::vector<ProcessGroup> groups_;
  int32_t self_pid_;
  // Wraps after 2^32 polls (13 years at 0.1 s): compared modulo 2^32.
  uint32_t poll_ = 0;
  OwnerId next_id_ = 0;
  std::unordered_map<OwnerId, OwnerRecord> owners_;
  std::unordered_map<int32_t, OwnerId> pid_owner_;
  // Keyed by socket inode, which is never 0, the map's empty-slot marker:
  // sockfs numbers inodes with get_next_ino(), which skips 0 (fs/inode.c),
  // and inet_diag reports inode 0 only for sockets without a struct socket
  // (TIME_WAIT, NEW_SYN_RECV, orphans), which are never looked up (the
  // aggregator maps them to kOwnerNone). A key 0 would still work: the map
  // keeps it beside its array.
  FlatHashMap<uint32_t, InodeEntry> inodes_;
  static_assert(sizeof(decltype(inodes_)::Slot) == 16);
  AttributionStats stats_;
  bool scan_denied_ = false;
  std::vector<uint64_t> scan_netns_;
  bool has_read_capabilities_;
  OwnerInfo unknown_{0, "(unknown)"};
  const std::atomic<bool>* stop_ = nullptr;
  bool Stopping() const { return stop_ != nullptr && stop_->load(std::memory_order_relaxed); }
};

}  // namespace tcpstate
