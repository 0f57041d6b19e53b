// Gathers the rows of the drill-down pages (/close_wait, /time_wait) while a
// dump streams in: CLOSE_WAIT sockets by owner, direction, port and remote
// address, TIME_WAIT sockets by destination. Memory is bounded by
// Config::Pages: at most max_groups endpoints and max_groups groups per
// state, max_fds inodes per CLOSE_WAIT group; sockets beyond are counted,
// not kept. Nothing is kept per socket (a CLOSE_WAIT socket whose owner is
// not cached yet waits with a 4-byte endpoint index, see PollAggregator).
//
// The client side of a connection is folded: an outbound row has no local
// port (its ephemeral ports would make one row per socket), an inbound row
// no remote port.
//
// Thread-safety: not thread-safe; part of one PollAggregator.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "aggregate/port_classifier.h"
#include "aggregate/socket_table.h"
#include "common/flat_hash_map.h"
#include "config/config.h"
#include "netlink/socket_record.h"
#include "procfs/owner_directory.h"

namespace tcpstate {

class SocketDetail {
 public:
  // An index into the endpoint table; kNoEndpoint: the table was full.
  using EndpointIndex = uint32_t;
  static constexpr EndpointIndex kNoEndpoint = 0xffffffffU;

  explicit SocketDetail(const Config::Pages& pages) : pages_(pages) {}

  bool enabled() const { return pages_.enabled; }
  void Clear();

  // The endpoint (direction, folded ports, remote address) of a CLOSE_WAIT
  // socket, interned.
  EndpointIndex CloseWaitEndpoint(const SocketRecord& record, Direction direction);
  // A CLOSE_WAIT socket whose owner is known (kOwnerNone / kOwnerUnknown
  // included).
  void AddCloseWait(OwnerId owner, EndpointIndex endpoint, uint32_t inode, int64_t first_seen_ms,
                    CloseWaitCause cause);
  void AddTimeWait(const SocketRecord& record, Direction direction);

  // The rows, busiest first; fd numbers for the top `pages.top` CLOSE_WAIT
  // groups (from `owners`, may be null).
  DetailTable Finish(OwnerDirectory* owners, int64_t now_ms, PortRange local_port_range) const;

  // Heap bytes held now (capacities), for the memory measurement.
  size_t memory_bytes() const;

 private:
  // 24 bytes: what a row is keyed by besides its owner, as three words (read
  // straight from the record: no byte-wise copy, no hash chain): the remote
  // address (IPv4 in the first 4 bytes, the rest zero, as in SocketRecord),
  // then local port | remote port << 16 | family << 32 | direction << 40,
  // a folded port being 0.
  struct Endpoint {
    uint64_t addr_low;
    uint64_t addr_high;
    uint64_t rest;
    bool operator==(const Endpoint&) const = default;
  };
  static Endpoint EndpointOf(const SocketRecord& record, Direction direction);
  struct Endpoints {
    FlatHashMap<uint64_t, EndpointIndex> index;  // hash of the Endpoint
    std::vector<Endpoint> list;
  };
  // 16 bytes, plus max_fds inodes in inodes_.
  struct Group {
    uint64_t sockets = 0;
    int64_t oldest_first_seen_ms = 0;
  };
  struct Groups {
    // owner << 32 | cause << 30 | endpoint (< pages.max_groups <= 10^6) -> list
    FlatHashMap<uint64_t, uint32_t> index;
    std::vector<Group> list;
    std::vector<uint64_t> keys;  // same order as list
    uint64_t not_shown = 0;      // sockets beyond max_groups
  };

  EndpointIndex Intern(Endpoints& endpoints, const Endpoint& endpoint);
  // Null when the group table is full.
  Group* GroupFor(Groups& groups, uint64_t key, uint32_t* index);

  const Config::Pages& pages_;
  Endpoints cw_endpoints_, tw_endpoints_;
  Groups close_wait_, time_wait_;
  // max_fds inode slots per CLOSE_WAIT group (0: empty), and how many are used.
  std::vector<uint32_t> inodes_;
  std::vector<uint8_t> inode_counts_;
};

}  // namespace tcpstate
