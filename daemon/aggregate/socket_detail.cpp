#include "aggregate/socket_detail.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <tuple>

namespace tcpstate {

namespace {
// The endpoint index in a CLOSE_WAIT group key (below the cause's 2 bits).
constexpr uint32_t kEndpointMask = (1U << 30) - 1;
}  // namespace
namespace {

// The three words multiplied independently; FlatHash mixes the result
// again. A collision is caught by comparing the endpoint itself (Intern).
uint64_t HashEndpoint(uint64_t a, uint64_t b, uint64_t c) {
  const uint64_t h = a * 0x9E3779B97F4A7C15ULL + b * 0xC2B2AE3D27D4EB4FULL +
                     ((c * 0x165667B19E3779F9ULL) ^ (c >> 29));
  return h == 0 ? 1 : h;  // 0 works as a key too, but costs a branch in the map
}

std::string FormatAddress(uint8_t family, const std::array<uint8_t, 16>& addr) {
  char text[INET6_ADDRSTRLEN] = {};
  const int af = family == AF_INET ? AF_INET : AF_INET6;
  if (inet_ntop(af, addr.data(), text, sizeof(text)) == nullptr) return "?";
  return text;
}

}  // namespace

void SocketDetail::Clear() {
  for (Endpoints* e : {&cw_endpoints_, &tw_endpoints_}) {
    e->index.Clear();
    e->list.clear();
  }
  for (Groups* g : {&close_wait_, &time_wait_}) {
    g->index.Clear();
    g->list.clear();
    g->keys.clear();
    g->not_shown = 0;
  }
  inodes_.clear();
  inode_counts_.clear();
}

SocketDetail::Endpoint SocketDetail::EndpointOf(const SocketRecord& record, Direction direction) {
  Endpoint e;
  std::memcpy(&e.addr_low, record.remote_addr.data(), 8);
  std::memcpy(&e.addr_high, record.remote_addr.data() + 8, 8);
  if (record.family == AF_INET) {  // only the first 4 bytes count
    e.addr_low &= 0xffffffffULL;
    e.addr_high = 0;
  }
  const uint64_t ports = direction == Direction::kInbound ? uint64_t{record.local_port}
                                                          : uint64_t{record.remote_port} << 16;
  e.rest = ports | uint64_t{record.family} << 32 | uint64_t{static_cast<uint8_t>(direction)} << 40;
  return e;
}

SocketDetail::EndpointIndex SocketDetail::Intern(Endpoints& endpoints, const Endpoint& endpoint) {
  const uint64_t hash = HashEndpoint(endpoint.addr_low, endpoint.addr_high, endpoint.rest);
  if (const EndpointIndex* found = endpoints.index.Find(hash)) {
    // Another endpoint with the same hash: not shown rather than merged.
    return endpoints.list[*found] == endpoint ? *found : kNoEndpoint;
  }
  if (endpoints.list.size() >= pages_.max_groups) return kNoEndpoint;
  const auto index = static_cast<EndpointIndex>(endpoints.list.size());
  endpoints.index.TryEmplace(hash, index);
  endpoints.list.push_back(endpoint);
  return index;
}

SocketDetail::EndpointIndex SocketDetail::CloseWaitEndpoint(const SocketRecord& record,
                                                            Direction direction) {
  return Intern(cw_endpoints_, EndpointOf(record, direction));
}

SocketDetail::Group* SocketDetail::GroupFor(Groups& groups, uint64_t key, uint32_t* index) {
  if (const uint32_t* found = groups.index.Find(key + 1)) {
    *index = *found;
    return &groups.list[*found];
  }
  if (groups.list.size() >= pages_.max_groups) return nullptr;
  *index = static_cast<uint32_t>(groups.list.size());
  groups.index.TryEmplace(key + 1, *index);  // +1: keys of endpoint 0 of owner 0 are not 0
  groups.list.emplace_back();
  groups.keys.push_back(key);
  return &groups.list.back();
}

void SocketDetail::AddCloseWait(OwnerId owner, EndpointIndex endpoint, uint32_t inode,
                                int64_t first_seen_ms, CloseWaitCause cause) {
  uint32_t index = 0;
  const uint64_t key =
      uint64_t{owner} << 32 | uint64_t{static_cast<uint8_t>(cause)} << 30 | endpoint;
  Group* group = endpoint == kNoEndpoint ? nullptr : GroupFor(close_wait_, key, &index);
  if (group == nullptr) {
    ++close_wait_.not_shown;
    return;
  }
  if (group->sockets == 0) {
    group->oldest_first_seen_ms = first_seen_ms;
    inodes_.resize(inodes_.size() + pages_.max_fds, 0);
    inode_counts_.push_back(0);
  }
  ++group->sockets;
  group->oldest_first_seen_ms = std::min(group->oldest_first_seen_ms, first_seen_ms);
  // The oldest sockets are the ones to look at; the first ones seen will do.
  uint8_t& used = inode_counts_[index];
  if (inode != 0 && used < pages_.max_fds) {
    inodes_[size_t{index} * pages_.max_fds + used] = inode;
    ++used;
  }
}

void SocketDetail::AddTimeWait(const SocketRecord& record, Direction direction) {
  const EndpointIndex e = Intern(tw_endpoints_, EndpointOf(record, direction));
  if (e == kNoEndpoint) {
    ++time_wait_.not_shown;
    return;
  }
  // One group per endpoint: its count sits at the endpoint's index.
  if (e == time_wait_.list.size()) {
    time_wait_.list.emplace_back();
    time_wait_.keys.push_back(e);
  }
  ++time_wait_.list[e].sockets;
}

DetailTable SocketDetail::Finish(OwnerDirectory* owners, int64_t now_ms,
                                 PortRange local_port_range) const {
  DetailTable table;
  table.enabled = pages_.enabled;
  table.local_port_range = local_port_range;
  table.close_wait_not_shown = close_wait_.not_shown;
  table.time_wait_not_shown = time_wait_.not_shown;
  auto fill = [](DetailRow& row, const Endpoint& e) {
    const auto family = static_cast<uint8_t>(e.rest >> 32);
    row.direction = static_cast<Direction>((e.rest >> 40) & 1);
    std::array<uint8_t, 16> addr{};
    std::memcpy(addr.data(), &e.addr_low, 8);
    std::memcpy(addr.data() + 8, &e.addr_high, 8);
    row.remote_address = FormatAddress(family, addr);
    if (row.direction == Direction::kInbound) {
      row.local_port = static_cast<int32_t>(e.rest & 0xffff);
    } else {
      row.remote_port = static_cast<int32_t>((e.rest >> 16) & 0xffff);
    }
  };
  auto busiest = [](const DetailRow& a, const DetailRow& b) {
    return std::tie(b.sockets, a.process, a.pid, a.remote_address, a.remote_port, a.local_port,
                    a.cause) < std::tie(a.sockets, b.process, b.pid, b.remote_address,
                                        b.remote_port, b.local_port, b.cause);
  };

  std::vector<std::pair<DetailRow, uint32_t>> rows;  // row, group index
  rows.reserve(close_wait_.list.size());
  for (uint32_t i = 0; i < close_wait_.list.size(); ++i) {
    const uint64_t key = close_wait_.keys[i];
    const auto owner = static_cast<OwnerId>(key >> 32);
    DetailRow row;
    if (owner == kOwnerNone) {
      row.process = "(none)";
    } else if (owner == kOwnerUnknown || owners == nullptr) {
      row.process = "(unknown)";
    } else {
      const OwnerInfo& info = owners->Owner(owner);
      row.process = info.name;
      row.pid = info.pid;
    }
    row.cause = static_cast<CloseWaitCause>((key >> 30) & 3);
    fill(row, cw_endpoints_.list[static_cast<uint32_t>(key) & kEndpointMask]);
    row.sockets = close_wait_.list[i].sockets;
    row.oldest_age_seconds =
        static_cast<double>(now_ms - close_wait_.list[i].oldest_first_seen_ms) / 1000.0;
    rows.emplace_back(std::move(row), i);
  }
  std::sort(rows.begin(), rows.end(),
            [&](const auto& a, const auto& b) { return busiest(a.first, b.first); });
  for (size_t r = 0; r < rows.size(); ++r) {
    auto& [row, i] = rows[r];
    if (owners != nullptr && r < pages_.top && row.pid != 0) {
      for (uint8_t k = 0; k < inode_counts_[i]; ++k) {
        if (auto fd = owners->FdOf(inodes_[size_t{i} * pages_.max_fds + k])) {
          row.fds.push_back(*fd);
        }
      }
      std::sort(row.fds.begin(), row.fds.end());
    }
    table.close_wait.push_back(std::move(row));
  }

  for (uint32_t i = 0; i < time_wait_.list.size(); ++i) {
    DetailRow row;
    fill(row, tw_endpoints_.list[static_cast<uint32_t>(time_wait_.keys[i])]);
    row.sockets = time_wait_.list[i].sockets;
    table.time_wait.push_back(std::move(row));
  }
  std::sort(table.time_wait.begin(), table.time_wait.end(), busiest);
  return table;
}

size_t SocketDetail::memory_bytes() const {
  size_t bytes = inodes_.capacity() * sizeof(uint32_t) + inode_counts_.capacity();
  for (const Endpoints* e : {&cw_endpoints_, &tw_endpoints_}) {
    bytes += e->index.memory_bytes() + e->list.capacity() * sizeof(Endpoint);
  }
  for (const Groups* g : {&close_wait_, &time_wait_}) {
    bytes += g->index.memory_bytes() + g->list.capacity() * sizeof(Group) +
             g->keys.capacity() * sizeof(uint64_t);
  }
  return bytes;
}

}  // namespace tcpstate
