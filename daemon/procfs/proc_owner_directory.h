// Maps socket inodes to owning processes by reading /proc/<pid>/fd links
// (`socket:[<inode>]`). It caches what it learned so that a poll in which no
// socket changed owner reads no fd link at all: cached owners are re-checked
// with one read of /proc/<pid>/stat (and, where the kernel counts fds, one
// stat of /proc/<pid>/fd), and only inodes missing from the cache trigger a
// search.
//
// Per owner it keeps what each fd number pointed to (FdTable, 8 bytes an
// fd), so that a search costs what changed, not the size of the fd table:
// it reads the links of fds whose cached socket left the dump (fd numbers
// are reused at once), then the fd numbers the table does not know, lowest
// first, until the fd count (st_size of /proc/<pid>/fd) is accounted for;
// one listing of the directory when it is not. A socket found at an fd the
// cache gives to another process makes the search re-read that one link.
// A socket still missing after every process was searched is looked for
// once more one poll later, then with every known owner's table re-read
// (what an fd reuse with a still-living socket needs), before it is cached
// as unknown. docs/attribution.md describes the cases.
//
// Thread-safety: not thread-safe. The poll thread calls it, and during a
// namespace's dump the namespace thread calls Lookup while the poll thread
// waits for it (poller/namespace_targets.h): never two threads at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/flat_hash_map.h"
#include "common/unique_fd.h"
#include "config/config.h"
#include "procfs/attribution_stats.h"
#include "procfs/fd_table.h"
#include "procfs/owner_directory.h"

namespace tcpstate {

class ProcOwnerDirectory : public OwnerDirectory {
 public:
  ProcOwnerDirectory(std::filesystem::path proc_root, std::vector<ProcessGroup> groups);

  void BeginPoll() override;
  std::optional<OwnerId> Lookup(uint32_t inode) override;
  void Prefetch(uint32_t inode) const override { inodes_.Prefetch(inode); }
  void Resolve(std::span<const uint32_t> inodes) override;
  // One stat of /proc/<pid>/fd per owner (the count EndPoll compares with
  // the fd table, taken here instead of there, so a warm poll pays nothing
  // more); /proc/<pid>/limits only for an owner new to the cache (a pid and
  // start time not seen before). Nothing where the kernel does not count
  // fds in st_size (listing every table each poll would cost far more),
  // except on a recorded tree (not procfs: the golden test), listed.
  void MeasureOwners() override;
  void EndPoll() override;
  const OwnerInfo& Owner(OwnerId id) const override;
  std::optional<uint32_t> FdOf(uint32_t inode) const override;

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

  // Tests on a fake /proc tree, whose directories do not count their
  // entries in st_size: count fds by listing them (not counted as listings).
  void CountFdsByListingForTesting() { count_by_listing_ = true; }

  // Cumulative; read by the poller after each poll.
  const AttributionStats& stats() const { return stats_; }
  size_t cached_sockets() const { return inodes_.size(); }

 private:
  struct OwnerRecord {
    OwnerInfo info;
    uint64_t start_time = 0;
    std::string comm;
    uint64_t sockets = 0;  // cache entries pointing here (scan order)
    FdTable fds;           // every fd of the process at the last read
    uint32_t synced_poll = 0;
    uint32_t listed_poll = 0;    // last listing of /proc/<pid>/fd
    uint32_t table_sockets = 0;  // fds table shows holding a socket of the dump
    uint32_t counted_poll = 0;   // info.open_fds is from this poll
    bool limit_read = false;     // info.max_fds was read (once per process)
  };
  // 12 bytes a cached socket with its key (FlatHashMap slot). Every entry
  // EndPoll keeps was seen in that poll, so "seen in this poll" needs one
  // bit: the poll number's parity when it was last seen (a poll that did not
  // end is swept at the next BeginPoll). The other 31 bits: for an owned
  // socket its fd (fds are < 2^31), for one not found the poll of the next
  // search, modulo 2^31.
  struct InodeEntry {
    OwnerId owner;      // kOwnerUnknown / kOwnerRetry: searched, not found
    uint32_t word = 0;  // seen parity << 31 | aux
  };
  static constexpr uint32_t kAuxMask = 0x7fffffffU;
  static uint32_t Aux(const InodeEntry& e) { return e.word & kAuxMask; }
  static void SetAux(InodeEntry& e, uint32_t aux) {
    e.word = (e.word & ~kAuxMask) | (aux & kAuxMask);
  }
  bool SeenThisPoll(const InodeEntry& e) const { return (e.word >> 31) == (poll_ & 1U); }
  void MarkSeen(InodeEntry& e) const { e.word = (e.word & kAuxMask) | ((poll_ & 1U) << 31); }
  // An entry seen in this poll.
  InodeEntry Entry(OwnerId owner, uint32_t aux) const {
    return InodeEntry{owner, ((poll_ & 1U) << 31) | (aux & kAuxMask)};
  }
  // Drops the entries the poll did not see (EndPoll's sweep), counting the
  // kept ones per owner.
  void DropUnseen();
  // Searched once and not found: searched again at poll `aux` (with every
  // owner's table re-read) before it counts as unknown.
  static constexpr OwnerId kOwnerRetry = kOwnerUnknown - 1;

  // What one read of a process's fds found.
  struct Found {
    uint32_t inode;
    uint32_t fd;
  };
  enum class SyncMode { kChanges, kEverything };

  // Brings a known owner's fd table up to date, reading only what changed
  // (kChanges) or every link (kEverything); credits `wanted` inodes found.
  void SyncOwner(OwnerId id, FlatHashSet<uint32_t>& wanted, SyncMode mode);
  // Scans the fds of a process we know nothing about for `wanted` inodes.
  void ScanProcess(int32_t pid, FlatHashSet<uint32_t>& wanted);
  void ScanForWanted(FlatHashSet<uint32_t>& wanted, std::unordered_set<int32_t>& scanned,
                     const FlatHashSet<uint32_t>& retried);
  // Records that `owner` holds `inode` at `fd` (a link just read); a cache
  // entry naming another process's fd is checked with one link read.
  void Credit(OwnerId owner, uint32_t inode, uint32_t fd, FlatHashSet<uint32_t>& wanted);
  // The fd table entry (owner, fd) no longer points to `inode`.
  void Uncredit(OwnerId owner, uint32_t inode, uint32_t fd);
  bool InDump(uint32_t inode, const FlatHashSet<uint32_t>& wanted);
  // The fds of `id` whose cached socket this poll's dump showed (a bitmap by
  // fd number; built once a poll, on first use). An fd without its bit may
  // still hold a socket of the dump: ask InDump.
  const std::vector<uint64_t>& SeenFdsOf(OwnerId id);
  // Re-reads up to `limit` fds that hold shared sockets; credits `wanted`
  // inodes found there.
  void RevalidateShared(FlatHashSet<uint32_t>& wanted, size_t limit);
  int64_t CountOpenFds(int dir_fd) const;
  bool OpenFdDir(int32_t pid, UniqueFd* dir);
  bool InScannedNamespace(int32_t pid) const;
  OwnerId OwnerFor(int32_t pid, const std::string& comm, uint64_t start_time);
  void ForgetOwner(OwnerId id);
  std::string LabelFor(const std::string& comm) const;

  std::filesystem::path proc_root_;
  std::vector<ProcessGroup> groups_;
  int32_t self_pid_;
  // Wraps after 2^32 polls (13 years at 0.1 s): compared modulo 2^32.
  uint32_t poll_ = 0;
  bool poll_ended_ = true;  // EndPoll ran for poll_
  OwnerId next_id_ = 0;

 public:
  // Tests: the id the next new owner is given (to reach the wrap-around).
  void set_next_owner_id_for_testing(OwnerId id) { next_id_ = id; }
  // Tests: the poll number of a new directory (to reach its wrap-arounds).
  void set_poll_for_testing(uint32_t poll) {
    inodes_.Clear();
    poll_ = poll;
  }

 private:
  std::unordered_map<OwnerId, OwnerRecord> owners_;
  std::unordered_map<int32_t, OwnerId> pid_owner_;
  // Keyed by socket inode, which is never 0, the map's empty-slot marker:
  // sockfs numbers inodes with get_next_ino(), which skips 0 (fs/inode.c),
  // and inet_diag reports inode 0 only for sockets without a struct socket
  // (TIME_WAIT, NEW_SYN_RECV, orphans), which are never looked up (the
  // aggregator maps them to kOwnerNone). A key 0 would still work: the map
  // keeps it beside its array.
  FlatHashMap<uint32_t, InodeEntry> inodes_;
  static_assert(sizeof(decltype(inodes_)::Slot) == 12);
  AttributionStats stats_;
  bool scan_denied_ = false;
  std::vector<uint64_t> scan_netns_;
  bool has_read_capabilities_;
  bool counts_fds_;  // st_size of /proc/<pid>/fd is the fd count (Linux 6.2+)
  bool count_by_listing_ = false;
  // A recorded tree (golden test), not procfs: MeasureOwners lists the fds.
  bool recorded_tree_;
  // Sockets seen in the fd tables of two processes (fork, SCM_RIGHTS, value:
  // poll last seen): a process may give its copy up unnoticed.
  FlatHashMap<uint32_t, uint32_t> shared_;
  size_t shared_cursor_ = 0;
  // Owners removed since the last BeginPoll, whose cache entries it drops
  // (their ids are not handed out again until then).
  FlatHashSet<OwnerId> removed_owners_;
  // SeenFdsOf: owner -> index in seen_fds_ (or kNoSeenFds), valid for poll
  // seen_poll_ only; bits per owner: its largest fd, at most 4 times its
  // table size plus kSeenFdsSlack (1 bit an fd: 128 KiB at a million fds).
  static constexpr uint32_t kNoSeenFds = 0xffffffffU;
  static constexpr size_t kSeenFdsSlack = 4096;
  bool seen_built_ = false;
  uint32_t seen_poll_ = 0;
  FlatHashMap<OwnerId, uint32_t> seen_index_;
  std::vector<std::vector<uint64_t>> seen_fds_;
  // EndPoll: cache entries per owner.
  FlatHashMap<OwnerId, uint64_t> socket_counts_;
  OwnerInfo unknown_{0, "(unknown)"};
  const std::atomic<bool>* stop_ = nullptr;
  bool Stopping() const { return stop_ != nullptr && stop_->load(std::memory_order_relaxed); }
};

}  // namespace tcpstate
