#include "aggregate/poll_aggregator.h"

#include <algorithm>
#include <limits>
#include <set>
#include <string>
#include <tuple>

#include "common/tcp_state.h"

namespace tcpstate {
namespace {

constexpr const char* kProcessNone = "(none)";
constexpr const char* kProcessUnknown = "(unknown)";
constexpr const char* kProcessOther = "(other)";

uint64_t PortCountKey(uint8_t state, Direction direction, PortKey port) {
  return uint64_t{state} << 20 | uint64_t{static_cast<uint8_t>(direction)} << 18 | port;
}
uint64_t ProcessKey(OwnerId owner, uint8_t state) { return uint64_t{owner} << 8 | state; }
// The cause (2 bits) shares the key with the group: no extra look-up per socket.
uint64_t CloseWaitKey(OwnerId owner, CloseWaitCause cause, Direction direction, PortKey port) {
  return uint64_t{owner} << 24 | uint64_t{static_cast<uint8_t>(cause)} << 21 |
         uint64_t{static_cast<uint8_t>(direction)} << 20 | port;
}
static_assert(kPortOther < (1U << 20), "a PortKey fits in 20 bits");
uint32_t PendingKey(uint8_t state, CloseWaitCause cause, Direction direction, PortKey port) {
  return uint32_t{state} << 24 | uint32_t{static_cast<uint8_t>(cause)} << 21 |
         uint32_t{static_cast<uint8_t>(direction)} << 20 | port;
}
static_assert(kCloseWaitCauseCount <= 4, "a cause fits in 2 bits");

// FNV-1a over the destination tuple: 64 bits make collisions negligible at
// the map sizes we cap at, and the map stays 16 bytes an entry.
uint64_t DestinationHash(const SocketRecord& r) {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      h ^= p[i];
      h *= 1099511628211ULL;
    }
  };
  const size_t addr_len = r.family == 2 /* AF_INET */ ? 4 : 16;
  mix(&r.family, 1);
  mix(r.local_addr.data(), addr_len);
  mix(r.remote_addr.data(), addr_len);
  const uint8_t port[2] = {static_cast<uint8_t>(r.remote_port >> 8),
                           static_cast<uint8_t>(r.remote_port)};
  mix(port, 2);
  return h;
}

// Keeps the `limit` keys with the largest totals (ties: smaller key first).
template <typename Key>
std::set<Key> TopKeys(const std::map<Key, uint64_t>& totals, uint32_t limit) {
  std::vector<std::pair<Key, uint64_t>> ranked(totals.begin(), totals.end());
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::set<Key> kept;
  for (size_t i = 0; i < ranked.size() && i < limit; ++i) {
    kept.insert(ranked[i].first);
  }
  return kept;
}

}  // namespace

PollAggregator::PollAggregator(const Config& config, PortRange ephemeral, OwnerDirectory* owners,
                               CloseWaitTracker& tracker, int64_t now_ms)
    : config_(config),
      ephemeral_(ephemeral),
      owners_(owners),
      tracker_(tracker),
      now_ms_(now_ms),
      classifier_(config.ports.include, ephemeral),
      detail_(config.pages) {}

void PollAggregator::BeginAttempt() {
  classifier_ = PortClassifier(config_.ports.include, ephemeral_);
  by_state_.fill(0);
  total_ = 0;
  port_counts_.clear();
  process_counts_.Clear();
  close_wait_.clear();
  listeners_.clear();
  destinations_.clear();
  pending_.clear();
  pending_first_seen_ms_.clear();
  detail_.Clear();
  pending_endpoints_.clear();
  tracker_.Begin();
}

void PollAggregator::OnRecord(const SocketRecord& record) {
  std::optional<OwnerId> cached;
  if (owners_ != nullptr && LooksUpOwner(record)) cached = owners_->Lookup(record.inode);
  Count(record, cached);
}

bool PollAggregator::LooksUpOwner(const SocketRecord& record) const {
  if (record.inode == 0) return false;
  if (record.state == kCloseWait) return true;
  return record.state < 32 && (config_.processes.states & StateBit(record.state));
}

void PollAggregator::OnRecords(std::span<const SocketRecord> records) {
  if (owners_ == nullptr) {
    for (const SocketRecord& record : records) Count(record, std::nullopt);
    return;
  }
  // The look-ups of a run first, in a loop of their own: their cache misses
  // overlap, where between the counting of records they would come one by one.
  constexpr size_t kRun = 64;
  std::array<std::optional<OwnerId>, kRun> cached;
  while (!records.empty()) {
    const auto run = records.first(std::min(kRun, records.size()));
    for (const SocketRecord& record : run) {
      if (LooksUpOwner(record)) owners_->Prefetch(record.inode);
    }
    for (size_t i = 0; i < run.size(); ++i) {
      cached[i] = LooksUpOwner(run[i]) ? owners_->Lookup(run[i].inode) : std::nullopt;
    }
    for (size_t i = 0; i < run.size(); ++i) Count(run[i], cached[i]);
    records = records.subspan(run.size());
  }
}

// `cached`: the owner cache's answer for the record's inode (LooksUpOwner),
// nullopt when not asked or not cached.
void PollAggregator::Count(const SocketRecord& record, std::optional<OwnerId> cached) {
  ++total_;
  ++by_state_[record.state];
  if (record.state == kListen) {
    classifier_.AddListeningPort(record.local_port);
    auto& listener = listeners_[record.local_port];
    listener.queue += record.rqueue;
    listener.backlog += record.wqueue;
    listener.drops += record.drops;
  }
  const auto [direction, port] = classifier_.Classify(record);
  // Listeners' queue fields are the accept queue and backlog, not bytes.
  const uint32_t rqueue = record.state == kListen ? 0 : record.rqueue;
  const uint32_t wqueue = record.state == kListen ? 0 : record.wqueue;
  port_counts_[PortCountKey(record.state, direction, port)].Add(rqueue, wqueue);
  if (direction == Direction::kOutbound && record.state != kListen) {
    TrackDestination(record, port);
  }

  if (record.state == kTimeWait && detail_.enabled()) detail_.AddTimeWait(record, direction);
  const bool is_close_wait = record.state == kCloseWait;
  const bool attributed = record.state < 32 && (config_.processes.states & StateBit(record.state));
  if (!is_close_wait && !(attributed && owners_ != nullptr)) return;

  const int64_t first_seen = is_close_wait ? tracker_.Observe(record.cookie, now_ms_) : 0;
  const CloseWaitCause cause = ClassifyCloseWait(record.inode, record.rqueue);
  const SocketDetail::EndpointIndex endpoint = is_close_wait && detail_.enabled()
                                                   ? detail_.CloseWaitEndpoint(record, direction)
                                                   : SocketDetail::kNoEndpoint;
  OwnerId owner = kOwnerUnknown;
  if (owners_ == nullptr) {
    owner = kOwnerUnknown;
  } else if (record.inode == 0) {
    owner = kOwnerNone;
  } else if (cached) {
    owner = *cached;
  } else {
    pending_.push_back(
        {record.inode, PendingKey(record.state, cause, direction, port), rqueue, wqueue});
    if (is_close_wait) pending_first_seen_ms_.push_back(first_seen);
    if (is_close_wait && detail_.enabled()) pending_endpoints_.push_back(endpoint);
    return;
  }
  AddOwned(owner, record.state, cause, direction, port, first_seen, rqueue, wqueue, record.inode,
           endpoint);
}

void PollAggregator::AddOwned(OwnerId owner, uint8_t state, CloseWaitCause cause,
                              Direction direction, PortKey port, int64_t first_seen_ms,
                              uint32_t rqueue, uint32_t wqueue, uint32_t inode,
                              SocketDetail::EndpointIndex endpoint) {
  const bool attributed =
      owners_ != nullptr && state < 32 && (config_.processes.states & StateBit(state));
  if (attributed) {
    process_counts_.TryEmplace(ProcessKey(owner, state), Tally{}).first->Add(rqueue, wqueue);
  }
  if (state != kCloseWait) return;
  if (detail_.enabled()) detail_.AddCloseWait(owner, endpoint, inode, first_seen_ms, cause);
  auto& group = close_wait_[CloseWaitKey(owner, cause, direction, port)];
  if (group.sockets == 0) {
    group.oldest_first_seen_ms = first_seen_ms;
    group.aged.assign(config_.close_wait.age_thresholds.size(), 0);
  }
  ++group.sockets;
  group.oldest_first_seen_ms = std::min(group.oldest_first_seen_ms, first_seen_ms);
  const int64_t age_ms = now_ms_ - first_seen_ms;
  for (size_t i = 0; i < config_.close_wait.age_thresholds.size(); ++i) {
    const int64_t threshold_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(config_.close_wait.age_thresholds[i])
            .count();
    if (age_ms >= threshold_ms) ++group.aged[i];
  }
}

void PollAggregator::TrackDestination(const SocketRecord& record, PortKey port) {
  const uint64_t key = DestinationHash(record);
  auto it = destinations_.find(key);
  if (it == destinations_.end()) {
    if (destinations_.size() >= config_.outbound.max_destinations) return;
    it = destinations_.emplace(key, Destination{0, port}).first;
  }
  ++it->second.sockets;
}

void PollAggregator::AppendPendingInodes(std::vector<uint32_t>& out) const {
  for (const auto& p : pending_) out.push_back(p.inode);
}

SocketTable PollAggregator::Finish() {
  if (owners_ != nullptr) {
    size_t close_wait = 0;
    for (const auto& p : pending_) {
      const OwnerId owner = owners_->Lookup(p.inode).value_or(kOwnerUnknown);
      const auto state = static_cast<uint8_t>(p.key >> 24);
      const bool is_close_wait = state == kCloseWait;
      const int64_t first_seen = is_close_wait ? pending_first_seen_ms_[close_wait] : 0;
      const auto endpoint = is_close_wait && detail_.enabled() ? pending_endpoints_[close_wait]
                                                               : SocketDetail::kNoEndpoint;
      if (is_close_wait) ++close_wait;
      AddOwned(owner, state, static_cast<CloseWaitCause>((p.key >> 21) & 3),
               static_cast<Direction>((p.key >> 20) & 1), p.key & 0xfffff, first_seen, p.rqueue,
               p.wqueue, p.inode, endpoint);
    }
  }
  pending_.clear();
  pending_first_seen_ms_.clear();
  pending_endpoints_.clear();
  tracker_.Commit();

  SocketTable table;
  table.by_state = by_state_;
  table.total = total_;
  table.processes_enabled = owners_ != nullptr;
  table.pid_label = config_.processes.pid_label;
  table.age_thresholds = config_.close_wait.age_thresholds;

  // Port cap: the busiest ports keep their number, the rest become "other".
  std::map<PortKey, uint64_t> port_totals;
  for (const auto& [key, count] : port_counts_) {
    const PortKey port = static_cast<PortKey>(key & 0x3ffff);
    if (port < kPortEphemeral) port_totals[port] += count.sockets;
  }
  const auto kept_ports = TopKeys(port_totals, config_.ports.max_distinct);
  table.folded_ports = port_totals.size() - kept_ports.size();
  auto port_label = [&](PortKey port) -> std::string {
    if (port == kPortEphemeral) return "ephemeral";
    if (port == kPortOther || !kept_ports.contains(port)) return "other";
    return std::to_string(port);
  };

  // Process cap, on the (name[, pid]) label values.
  using ProcessLabel = std::pair<std::string, std::string>;
  auto owner_label = [&](OwnerId owner) -> ProcessLabel {
    if (owner == kOwnerNone) return {kProcessNone, ""};
    if (owner == kOwnerUnknown || owners_ == nullptr) return {kProcessUnknown, ""};
    const OwnerInfo& info = owners_->Owner(owner);
    return {info.name, config_.processes.pid_label ? std::to_string(info.pid) : ""};
  };
  std::map<ProcessLabel, uint64_t> process_totals;
  process_counts_.ForEach([&](uint64_t key, const Tally& count) {
    const auto owner = static_cast<OwnerId>(key >> 8);
    if (owner == kOwnerNone || owner == kOwnerUnknown) return;
    process_totals[owner_label(owner)] += count.sockets;
  });
  for (const auto& [key, group] : close_wait_) {
    const auto owner = static_cast<OwnerId>(key >> 24);
    if (owner == kOwnerNone || owner == kOwnerUnknown) continue;
    process_totals.try_emplace(owner_label(owner), 0);
  }
  const auto kept_processes = TopKeys(process_totals, config_.processes.max_distinct);
  table.folded_processes = process_totals.size() - kept_processes.size();
  auto process_label = [&](OwnerId owner) -> ProcessLabel {
    ProcessLabel label = owner_label(owner);
    if (owner == kOwnerNone || owner == kOwnerUnknown) return label;
    if (!kept_processes.contains(label)) return {kProcessOther, ""};
    return label;
  };

  // Merge into final series; std::map keeps the output order stable.
  auto merge = [](Tally& into, const Tally& from) {
    into.sockets += from.sockets;
    into.recv_bytes += from.recv_bytes;
    into.send_bytes += from.send_bytes;
  };
  std::map<std::tuple<uint8_t, Direction, std::string>, Tally> ports;
  for (const auto& [key, count] : port_counts_) {
    merge(ports[{static_cast<uint8_t>(key >> 20), static_cast<Direction>((key >> 18) & 1),
                 port_label(static_cast<PortKey>(key & 0x3ffff))}],
          count);
  }
  for (const auto& [k, count] : ports) {
    table.ports.push_back({std::get<0>(k), std::get<1>(k), std::get<2>(k), count.sockets,
                           count.recv_bytes, count.send_bytes});
  }

  std::map<std::tuple<std::string, std::string, uint8_t>, Tally> processes;
  process_counts_.ForEach([&](uint64_t key, const Tally& count) {
    auto [name, pid] = process_label(static_cast<OwnerId>(key >> 8));
    merge(processes[{name, pid, static_cast<uint8_t>(key & 0xff)}], count);
  });
  for (const auto& [k, count] : processes) {
    table.processes.push_back({std::get<0>(k), std::get<1>(k), std::get<2>(k), count.sockets,
                               count.recv_bytes, count.send_bytes});
  }

  // Open fds, for the label sets of tcpstate_process_sockets: of the
  // processes sharing one, the one nearest its limit (then the most fds).
  std::map<ProcessLabel, ProcessFdSeries> fds;
  auto nearer_limit = [](const OwnerInfo& a, const ProcessFdSeries& b) {
    const bool a_limited = a.max_fds > 0;
    const bool b_limited = b.max_fds > 0;
    if (a_limited != b_limited) return a_limited;
    if (a_limited) {
      const double ra = static_cast<double>(a.open_fds) / static_cast<double>(a.max_fds);
      const double rb = static_cast<double>(b.open_fds) / static_cast<double>(b.max_fds);
      if (ra != rb) return ra > rb;
    }
    return a.open_fds > b.open_fds;
  };
  process_counts_.ForEach([&](uint64_t key, const Tally&) {
    const auto owner = static_cast<OwnerId>(key >> 8);
    if (owner == kOwnerNone || owner == kOwnerUnknown) return;
    const OwnerInfo& info = owners_->Owner(owner);
    if (info.open_fds < 0) return;
    ProcessLabel label = process_label(owner);
    auto [it, inserted] = fds.try_emplace(label);
    if (inserted || nearer_limit(info, it->second)) {
      it->second = ProcessFdSeries{label.first, label.second, info.open_fds, info.max_fds};
    }
  });
  for (auto& [label, series] : fds) table.process_fds.push_back(std::move(series));

  std::map<std::tuple<std::string, std::string, Direction, std::string, CloseWaitCause>,
           CloseWaitGroup>
      close_wait;
  for (const auto& [key, group] : close_wait_) {
    auto [name, pid] = process_label(static_cast<OwnerId>(key >> 24));
    auto& merged = close_wait[{name, pid, static_cast<Direction>((key >> 20) & 1),
                               port_label(static_cast<PortKey>(key & 0xfffff)),
                               static_cast<CloseWaitCause>((key >> 21) & 3)}];
    if (merged.sockets == 0) {
      merged = group;
      continue;
    }
    merged.sockets += group.sockets;
    merged.oldest_first_seen_ms = std::min(merged.oldest_first_seen_ms, group.oldest_first_seen_ms);
    for (size_t i = 0; i < merged.aged.size(); ++i) merged.aged[i] += group.aged[i];
  }
  for (const auto& [k, group] : close_wait) {
    table.close_wait.push_back({std::get<0>(k), std::get<1>(k), std::get<2>(k), std::get<3>(k),
                                std::get<4>(k), group.sockets,
                                static_cast<double>(now_ms_ - group.oldest_first_seen_ms) / 1000.0,
                                group.aged});
  }

  std::map<std::string, Listener> listeners;
  for (const auto& [port, listener] : listeners_) {
    auto& merged = listeners[port_label(classifier_.Filter(port))];
    merged.queue += listener.queue;
    merged.backlog += listener.backlog;
    merged.drops += listener.drops;
  }
  // SYN_RECV beside the accept queue, from the port counts (no per-socket work).
  for (const auto& [key, count] : port_counts_) {
    const auto state = static_cast<uint8_t>(key >> 20);
    if ((state != kSynRecv && state != kNewSynRecv) ||
        static_cast<Direction>((key >> 18) & 1) != Direction::kInbound) {
      continue;
    }
    if (auto it = listeners.find(port_label(static_cast<PortKey>(key & 0x3ffff)));
        it != listeners.end()) {
      it->second.syn_recv += count.sockets;
    }
  }
  for (const auto& [port, listener] : listeners) {
    table.listeners.push_back(
        {port, listener.queue, listener.backlog, listener.drops, listener.syn_recv});
  }

  std::map<std::string, uint64_t> outbound;
  for (const auto& [key, destination] : destinations_) {
    auto& max = outbound[port_label(destination.port)];
    max = std::max<uint64_t>(max, destination.sockets);
  }
  for (const auto& [port, max] : outbound) table.outbound.push_back({port, max});
  if (detail_.enabled()) table.detail = detail_.Finish(owners_, now_ms_, ephemeral_);
  return table;
}

}  // namespace tcpstate
