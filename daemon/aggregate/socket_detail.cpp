#include "aggregate/socket_detail.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <tuple>

namespace tcpstate {
namespace {

constexpr size_t kAddrLen4 = 4;

uint64_t HashBytes(const void* data, size_t n) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h | 1;  // never 0, the map's empty key (not needed, but cheaper)
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

SocketDetail::EndpointIndex SocketDetail::Intern(Endpoints& endpoints, const Endpoint& endpoint) {
  const uint64_t hash = HashBytes(&endpoint, sizeof(endpoint));
  if (const EndpointIndex* found = endpoints.index.Find(hash)) return *found;
  if (endpoints.list.size() >= pages_.max_groups) return kNoEndpoint;
  const auto index = static_cast<EndpointIndex>(endpoints.list.size());
  endpoints.index.TryEmplace(hash, index);
  endpoints.list.push_back(endpoint);
  return index;
}

SocketDetail::EndpointIndex SocketDetail::CloseWaitEndpoint(const SocketRecord& record,
                                                            Direction direction) {
  Endpoint endpoint{};
  endpoint.family = record.family;
  endpoint.direction = direction;
  const size_t len = record.family == AF_INET ? kAddrLen4 : 16;
  std::memcpy(endpoint.remote_addr.data(), record.remote_addr.data(), len);
  if (direction == Direction::kInbound) {
    endpoint.local_port = record.local_port;
  } else {
    endpoint.remote_port = record.remote_port;
  }
  return Intern(cw_endpoints_, endpoint);
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
                                int64_t first_seen_ms) {
  uint32_t index = 0;
  Group* group = endpoint == kNoEndpoint
                     ? nullptr
                     : GroupFor(close_wait_, uint64_t{owner} << 32 | endpoint, &index);
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
  Endpoint endpoint{};
  endpoint.family = record.family;
  endpoint.direction = direction;
  const size_t len = record.family == AF_INET ? kAddrLen4 : 16;
  std::memcpy(endpoint.remote_addr.data(), record.remote_addr.data(), len);
  if (direction == Direction::kInbound) {
    endpoint.local_port = record.local_port;
  } else {
    endpoint.remote_port = record.remote_port;
  }
  const EndpointIndex e = Intern(tw_endpoints_, endpoint);
  uint32_t index = 0;
  Group* group = e == kNoEndpoint ? nullptr : GroupFor(time_wait_, e, &index);
  if (group == nullptr) {
    ++time_wait_.not_shown;
    return;
  }
  ++group->sockets;
}

DetailTable SocketDetail::Finish(OwnerDirectory* owners, int64_t now_ms,
                                 PortRange local_port_range) const {
  DetailTable table;
  table.enabled = pages_.enabled;
  table.local_port_range = local_port_range;
  table.close_wait_not_shown = close_wait_.not_shown;
  table.time_wait_not_shown = time_wait_.not_shown;
  auto fill = [](DetailRow& row, const Endpoint& e) {
    row.direction = e.direction;
    row.remote_address = FormatAddress(e.family, e.remote_addr);
    if (e.direction == Direction::kInbound) {
      row.local_port = e.local_port;
    } else {
      row.remote_port = e.remote_port;
    }
  };
  auto busiest = [](const DetailRow& a, const DetailRow& b) {
    return std::tie(b.sockets, a.process, a.pid, a.remote_address, a.remote_port, a.local_port) <
           std::tie(a.sockets, b.process, b.pid, b.remote_address, b.remote_port, b.local_port);
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
    fill(row, cw_endpoints_.list[static_cast<uint32_t>(key)]);
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
