// Aggregates the socket table while the dump streams in: memory grows with
// the number of distinct series (and tracked CLOSE_WAIT sockets), never with
// the number of sockets. Sockets whose owner is not cached yet wait in a
// compact list until the one /proc look-up after the dump, which the caller
// runs once for every namespace of a poll:
//   owners.BeginPoll(); BeginAttempt(); OnRecord()...;
//   owners.Resolve(pending inodes of every aggregator); Finish(); owners.EndPoll();
//
// Thread-safety: not thread-safe; one per namespace and poll, filled by the
// thread that reads that namespace, finished by the poll thread after it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "aggregate/close_wait_tracker.h"
#include "aggregate/port_classifier.h"
#include "aggregate/socket_detail.h"
#include "aggregate/socket_table.h"
#include "common/close_wait_cause.h"
#include "common/flat_hash_map.h"
#include "config/config.h"
#include "netlink/tcp_table_reader.h"
#include "procfs/owner_directory.h"

namespace tcpstate {

class PollAggregator : public TableSink {
 public:
  // `owners` may be null: no process attribution. `tracker` outlives polls.
  PollAggregator(const Config& config, PortRange ephemeral, OwnerDirectory* owners,
                 CloseWaitTracker& tracker, int64_t now_ms);

  void BeginAttempt() override;
  void OnRecord(const SocketRecord& record) override;
  // Prefetches the owner cache entries of the run, then counts each record:
  // at 100,000 sockets the cache outgrows the CPU's, and look-ups one by one
  // wait for memory each time.
  void OnRecords(std::span<const SocketRecord> records) override;

  // Inodes whose owner was not cached: resolve them before Finish().
  void AppendPendingInodes(std::vector<uint32_t>& out) const;

  // Places the pending sockets, applies the caps and returns the final
  // table. Call once, after a successful read.
  SocketTable Finish();

 private:
  // A socket waiting for Resolve(), 8 bytes (a cold poll holds one per
  // owned socket): the inode and PendingKey(state, cause, direction, port). The
  // first-seen times of CLOSE_WAIT ones are in pending_first_seen_ms_, in the
  // same order.
  struct Pending {
    uint32_t inode;
    uint32_t key;
    uint32_t rqueue;
    uint32_t wqueue;
  };
  // Sockets and the bytes in their receive and send queues (idiag_rqueue,
  // idiag_wqueue; not for listeners, where they are the accept queue and
  // backlog): added to the counters each record touches anyway.
  struct Tally {
    uint64_t sockets = 0;
    uint64_t recv_bytes = 0;
    uint64_t send_bytes = 0;
    void Add(uint32_t rqueue, uint32_t wqueue) {
      ++sockets;
      recv_bytes += rqueue;
      send_bytes += wqueue;
    }
  };
  struct CloseWaitGroup {
    uint64_t sockets = 0;
    int64_t oldest_first_seen_ms = 0;
    std::vector<uint64_t> aged;
  };
  struct Listener {
    uint64_t queue = 0;
    uint64_t backlog = 0;
    uint64_t drops = 0;
    uint64_t syn_recv = 0;
  };
  struct Destination {
    uint32_t sockets = 0;
    PortKey port = 0;
  };

  bool LooksUpOwner(const SocketRecord& record) const;
  void Count(const SocketRecord& record, std::optional<OwnerId> cached);
  void AddOwned(OwnerId owner, uint8_t state, CloseWaitCause cause, Direction direction,
                PortKey port, int64_t first_seen_ms, uint32_t rqueue, uint32_t wqueue,
                uint32_t inode = 0,
                SocketDetail::EndpointIndex endpoint = SocketDetail::kNoEndpoint);
  void TrackDestination(const SocketRecord& record, PortKey port);

  const Config& config_;
  PortRange ephemeral_;
  OwnerDirectory* owners_;
  CloseWaitTracker& tracker_;
  int64_t now_ms_;

  PortClassifier classifier_;
  std::array<uint64_t, 256> by_state_{};
  uint64_t total_ = 0;
  std::unordered_map<uint64_t, Tally> port_counts_;          // state|dir|port
  FlatHashMap<uint64_t, Tally> process_counts_;              // owner|state
  std::unordered_map<uint64_t, CloseWaitGroup> close_wait_;  // owner|dir|port
  std::map<uint16_t, Listener> listeners_;
  std::unordered_map<uint64_t, Destination> destinations_;
  std::vector<Pending> pending_;
  std::vector<int64_t> pending_first_seen_ms_;
  // Rows of the drill-down pages; the endpoints of pending CLOSE_WAIT
  // sockets, in the order of pending_first_seen_ms_ (empty when off).
  SocketDetail detail_;
  std::vector<SocketDetail::EndpointIndex> pending_endpoints_;
};

}  // namespace tcpstate
