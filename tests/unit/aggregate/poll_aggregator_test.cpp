#include "aggregate/poll_aggregator.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <span>
#include <vector>

#include "common/tcp_state.h"

namespace tcpstate {
namespace {

// Owners keyed by inode; Resolve "finds" inodes listed in `discoverable`.
class FakeOwners : public OwnerDirectory {
 public:
  void BeginPoll() override {}
  std::optional<OwnerId> Lookup(uint32_t inode) override {
    if (auto it = cache.find(inode); it != cache.end()) return it->second;
    return std::nullopt;
  }
  void Resolve(std::span<const uint32_t> inodes) override {
    resolved += inodes.size();
    for (uint32_t inode : inodes) {
      if (auto it = discoverable.find(inode); it != discoverable.end()) {
        cache[inode] = it->second;
      }
    }
  }
  void EndPoll() override {}
  const OwnerInfo& Owner(OwnerId id) const override { return owners.at(id); }

  std::map<OwnerId, OwnerInfo> owners;
  std::map<uint32_t, OwnerId> cache;
  std::map<uint32_t, OwnerId> discoverable;
  size_t resolved = 0;
};

SocketRecord Socket(uint8_t state, uint16_t local, uint16_t remote, uint32_t inode = 0,
                    uint64_t cookie = 0) {
  SocketRecord r;
  r.family = 2;
  r.state = state;
  r.local_port = local;
  r.remote_port = remote;
  r.local_addr[0] = 127;
  r.remote_addr[0] = 127;
  r.inode = inode;
  r.cookie = cookie;
  return r;
}

const PortRange kEphemeral{32768, 60999};

// What the poller does after the dump: one look-up for every miss.
SocketTable Finish(PollAggregator& aggregator, OwnerDirectory* owners = nullptr) {
  if (owners != nullptr) {
    std::vector<uint32_t> pending;
    aggregator.AppendPendingInodes(pending);
    if (!pending.empty()) owners->Resolve(pending);
  }
  return aggregator.Finish();
}

class PollAggregatorTest : public ::testing::Test {
 protected:
  PollAggregatorTest() {
    owners.owners[1] = {100, "nginx"};
    owners.owners[2] = {200, "java"};
    owners.owners[3] = {300, "curl"};
  }
  SocketTable Run(const std::vector<SocketRecord>& records, int64_t now_ms = 1000) {
    PollAggregator aggregator(config, kEphemeral, &owners, tracker, now_ms);
    aggregator.BeginAttempt();
    for (const auto& r : records) aggregator.OnRecord(r);
    return Finish(aggregator, &owners);
  }
  uint64_t PortCount(const SocketTable& t, uint8_t state, Direction d, const std::string& port) {
    for (const auto& s : t.ports) {
      if (s.state == state && s.direction == d && s.port == port) return s.sockets;
    }
    return 0;
  }
  uint64_t ProcessCount(const SocketTable& t, const std::string& process, uint8_t state) {
    for (const auto& s : t.processes) {
      if (s.process == process && s.state == state) return s.sockets;
    }
    return 0;
  }

  Config config;
  FakeOwners owners;
  CloseWaitTracker tracker{1000};
};

TEST_F(PollAggregatorTest, CountsPerStateExactly) {
  auto t = Run({Socket(kListen, 80, 0), Socket(kEstablished, 80, 50000),
                Socket(kEstablished, 80, 50001), Socket(kTimeWait, 40000, 443)});
  EXPECT_EQ(t.total, 4u);
  EXPECT_EQ(t.by_state[kListen], 1u);
  EXPECT_EQ(t.by_state[kEstablished], 2u);
  EXPECT_EQ(t.by_state[kTimeWait], 1u);
}

TEST_F(PollAggregatorTest, InboundUsesLocalPortOutboundRemotePort) {
  auto t = Run({Socket(kListen, 80, 0), Socket(kEstablished, 80, 50000),
                Socket(kEstablished, 45000, 443), Socket(kEstablished, 45001, 50500)});
  EXPECT_EQ(PortCount(t, kEstablished, Direction::kInbound, "80"), 1u);
  EXPECT_EQ(PortCount(t, kEstablished, Direction::kOutbound, "443"), 1u);
  // An outbound remote port inside the ephemeral range is never a label.
  EXPECT_EQ(PortCount(t, kEstablished, Direction::kOutbound, "ephemeral"), 1u);
  for (const auto& s : t.ports) {
    EXPECT_NE(s.port, "50000");
    EXPECT_NE(s.port, "50500");
  }
}

TEST_F(PollAggregatorTest, PortCapFoldsTheQuietestPorts) {
  config.ports.max_distinct = 2;
  auto t = Run({Socket(kEstablished, 40000, 443), Socket(kEstablished, 40001, 443),
                Socket(kEstablished, 40002, 443), Socket(kEstablished, 40003, 5432),
                Socket(kEstablished, 40004, 5432), Socket(kEstablished, 40005, 6379),
                Socket(kEstablished, 40006, 25)});
  EXPECT_EQ(PortCount(t, kEstablished, Direction::kOutbound, "443"), 3u);
  EXPECT_EQ(PortCount(t, kEstablished, Direction::kOutbound, "5432"), 2u);
  EXPECT_EQ(PortCount(t, kEstablished, Direction::kOutbound, "other"), 2u);
  EXPECT_EQ(t.folded_ports, 2u);
  uint64_t sum = 0;
  for (const auto& s : t.ports) sum += s.sockets;
  EXPECT_EQ(sum, 7u);  // folding never loses a socket
}

TEST_F(PollAggregatorTest, IncludeListRestrictsPorts) {
  config.ports.include = {{443, 443}, {8000, 8999}};
  auto t = Run({Socket(kEstablished, 40000, 443), Socket(kEstablished, 40001, 8080),
                Socket(kEstablished, 40002, 5432)});
  EXPECT_EQ(PortCount(t, kEstablished, Direction::kOutbound, "443"), 1u);
  EXPECT_EQ(PortCount(t, kEstablished, Direction::kOutbound, "8080"), 1u);
  EXPECT_EQ(PortCount(t, kEstablished, Direction::kOutbound, "other"), 1u);
}

TEST_F(PollAggregatorTest, ProcessesFromCacheAndFromResolve) {
  owners.cache[11] = 1;
  owners.discoverable[22] = 2;
  auto t = Run({Socket(kEstablished, 40000, 443, 11), Socket(kCloseWait, 40001, 443, 22),
                Socket(kCloseWait, 40002, 443, 33), Socket(kTimeWait, 40003, 443, 0)});
  EXPECT_EQ(owners.resolved, 2u);  // only the misses were looked up
  EXPECT_EQ(ProcessCount(t, "nginx", kEstablished), 1u);
  EXPECT_EQ(ProcessCount(t, "java", kCloseWait), 1u);
  EXPECT_EQ(ProcessCount(t, "(unknown)", kCloseWait), 1u);
  EXPECT_EQ(ProcessCount(t, "(none)", kTimeWait), 1u);
}

TEST_F(PollAggregatorTest, AttributedStatesAreConfigurable) {
  config.processes.states = StateBit(kCloseWait);
  owners.cache[11] = 1;
  owners.cache[12] = 1;
  auto t = Run({Socket(kEstablished, 40000, 443, 11), Socket(kCloseWait, 40001, 443, 12)});
  EXPECT_EQ(ProcessCount(t, "nginx", kEstablished), 0u);
  EXPECT_EQ(ProcessCount(t, "nginx", kCloseWait), 1u);
}

TEST_F(PollAggregatorTest, ProcessCapFoldsIntoOther) {
  config.processes.max_distinct = 1;
  owners.cache = {{1, 1}, {2, 1}, {3, 2}, {4, 3}};
  auto t = Run({Socket(kEstablished, 40000, 443, 1), Socket(kEstablished, 40001, 443, 2),
                Socket(kEstablished, 40002, 443, 3), Socket(kEstablished, 40003, 443, 4)});
  EXPECT_EQ(ProcessCount(t, "nginx", kEstablished), 2u);
  EXPECT_EQ(ProcessCount(t, "(other)", kEstablished), 2u);
  EXPECT_EQ(t.folded_processes, 2u);
}

TEST_F(PollAggregatorTest, PidLabelSplitsSameName) {
  config.processes.pid_label = true;
  owners.owners[4] = {400, "nginx"};
  owners.cache = {{1, 1}, {2, 4}};
  auto t = Run({Socket(kEstablished, 40000, 443, 1), Socket(kEstablished, 40001, 443, 2)});
  ASSERT_EQ(t.processes.size(), 2u);
  EXPECT_EQ(t.processes[0].pid, "100");
  EXPECT_EQ(t.processes[1].pid, "400");
}

// tcpstate_process_open_fds: one series per tcpstate_process_sockets label
// set (same caps); processes sharing one show the one nearest its limit.
TEST_F(PollAggregatorTest, OpenFdsPerProcessLabelNearestItsLimit) {
  config.processes.max_distinct = 2;
  owners.owners[1] = {100, "nginx", 50, 1000};  // 5%
  owners.owners[4] = {400, "nginx", 90, 100};   // 90%: the one shown
  owners.owners[2] = {200, "java", 700, -1};    // limit unknown
  owners.owners[3] = {300, "curl", 10, 20};     // folded into (other)
  owners.owners[5] = {500, "gone", -1, -1};     // not counted: no series
  owners.cache = {{1, 1}, {2, 4}, {3, 2}, {4, 2}, {5, 2}, {6, 3}, {7, 5}};
  auto t = Run({Socket(kEstablished, 40000, 443, 1), Socket(kEstablished, 40001, 443, 2),
                Socket(kEstablished, 40002, 443, 3), Socket(kEstablished, 40003, 443, 4),
                Socket(kEstablished, 40004, 443, 5), Socket(kEstablished, 40005, 443, 6),
                Socket(kEstablished, 40006, 443, 7), Socket(kTimeWait, 40007, 443, 0)});
  std::map<std::string, std::pair<int64_t, int64_t>> fds;
  for (const auto& f : t.process_fds) fds[f.process] = {f.open_fds, f.max_fds};
  std::map<std::string, uint64_t> process_labels;
  for (const auto& p : t.processes) process_labels[p.process] += p.sockets;
  EXPECT_EQ(fds, (std::map<std::string, std::pair<int64_t, int64_t>>{
                     {"nginx", {90, 100}}, {"java", {700, -1}}, {"(other)", {10, 20}}}));
  // The same processes as tcpstate_process_sockets, less (none) and the
  // uncounted one, folded alike.
  for (const auto& [name, pair] : fds) EXPECT_TRUE(process_labels.contains(name)) << name;
  EXPECT_TRUE(process_labels.contains("(none)"));
  EXPECT_FALSE(fds.contains("(none)"));

  config.processes.pid_label = true;
  config.processes.max_distinct = 10;
  t = Run({Socket(kEstablished, 40000, 443, 1), Socket(kEstablished, 40001, 443, 2)});
  ASSERT_EQ(t.process_fds.size(), 2u);
  EXPECT_EQ(t.process_fds[0].pid, "100");
  EXPECT_EQ(t.process_fds[0].open_fds, 50);
  EXPECT_EQ(t.process_fds[1].pid, "400");
  EXPECT_EQ(t.process_fds[1].open_fds, 90);
}

TEST_F(PollAggregatorTest, CloseWaitByProcessAndPortWithAges) {
  config.close_wait.age_thresholds = {std::chrono::seconds(60)};
  owners.cache = {{1, 3}, {2, 3}};
  // Poll 1 at t=0: one CLOSE_WAIT socket to 443.
  auto t1 = Run({Socket(kCloseWait, 40000, 443, 1, 0xA)}, 0);
  ASSERT_EQ(t1.close_wait.size(), 1u);
  EXPECT_EQ(t1.close_wait[0].process, "curl");
  EXPECT_EQ(t1.close_wait[0].port, "443");
  EXPECT_EQ(t1.close_wait[0].direction, Direction::kOutbound);
  EXPECT_DOUBLE_EQ(t1.close_wait[0].oldest_age_seconds, 0);
  // Poll 2 at t=90s: the same socket plus a new one.
  auto t2 =
      Run({Socket(kCloseWait, 40000, 443, 1, 0xA), Socket(kCloseWait, 40001, 443, 2, 0xB)}, 90'000);
  ASSERT_EQ(t2.close_wait.size(), 1u);
  EXPECT_EQ(t2.close_wait[0].sockets, 2u);
  EXPECT_DOUBLE_EQ(t2.close_wait[0].oldest_age_seconds, 90);
  ASSERT_EQ(t2.close_wait[0].aged_sockets.size(), 1u);
  EXPECT_EQ(t2.close_wait[0].aged_sockets[0], 1u);
  // Poll 3: the old socket left CLOSE_WAIT; the age restarts from the new one.
  auto t3 = Run({Socket(kCloseWait, 40001, 443, 2, 0xB)}, 100'000);
  EXPECT_DOUBLE_EQ(t3.close_wait[0].oldest_age_seconds, 10);
}

// The three causes, measured with `ss` on the real kernel (live_netns_test.py):
// no inode = never accepted; Recv-Q 0 = EOF read, never closed; Recv-Q >= 1
// (unread data + the FIN) = not reading. Owners resolved after the dump
// (pending) keep their cause too.
TEST_F(PollAggregatorTest, CloseWaitSplitByCause) {
  owners.cache = {{1, 3}, {2, 3}};
  owners.discoverable = {{5, 3}};
  auto record = [](uint32_t inode, uint32_t rqueue, uint64_t cookie) {
    SocketRecord r = Socket(kCloseWait, static_cast<uint16_t>(40000 + cookie), 443, inode, cookie);
    r.rqueue = rqueue;
    return r;
  };
  auto t =
      Run({record(1, 0, 1), record(2, 6, 2), record(5, 1, 3), record(0, 1, 4), record(0, 4, 5)});
  std::map<std::pair<std::string, std::string>, uint64_t> got;
  for (const auto& c : t.close_wait) {
    got[{c.process, std::string(CloseWaitCauseName(c.cause))}] += c.sockets;
  }
  const std::map<std::pair<std::string, std::string>, uint64_t> want = {
      {{"curl", "not_closed"}, 1}, {{"curl", "not_reading"}, 2}, {{"(none)", "not_accepted"}, 2}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(t.close_wait.size(), 3u);
}

TEST_F(PollAggregatorTest, FailedAttemptDoesNotAgeSockets) {
  owners.cache = {{1, 3}};
  Run({Socket(kCloseWait, 40000, 443, 1, 0xA)}, 0);
  {
    // An attempt that observes the socket but is abandoned.
    PollAggregator aborted(config, kEphemeral, &owners, tracker, 50'000);
    aborted.BeginAttempt();
    aborted.OnRecord(Socket(kCloseWait, 40000, 443, 1, 0xA));
  }
  auto t = Run({Socket(kCloseWait, 40000, 443, 1, 0xA)}, 60'000);
  EXPECT_DOUBLE_EQ(t.close_wait[0].oldest_age_seconds, 60);
}

TEST_F(PollAggregatorTest, ListenerQueuesSummedPerPort) {
  SocketRecord v4 = Socket(kListen, 80, 0);
  v4.rqueue = 3;
  v4.wqueue = 128;
  SocketRecord v6 = v4;
  v6.family = 10;
  v6.rqueue = 2;
  auto t = Run({v4, v6});
  ASSERT_EQ(t.listeners.size(), 1u);
  EXPECT_EQ(t.listeners[0].port, "80");
  EXPECT_EQ(t.listeners[0].queue, 5u);
  EXPECT_EQ(t.listeners[0].backlog, 256u);
}

// Per-port drops (SK_MEMINFO_DROPS of each listener, summed over families and
// SO_REUSEPORT) and the port's inbound handshakes beside its accept queue.
TEST_F(PollAggregatorTest, ListenerDropsAndSynRecvPerPort) {
  SocketRecord v4 = Socket(kListen, 80, 0);
  v4.drops = 7;
  SocketRecord v6 = v4;
  v6.family = 10;
  v6.drops = 5;
  SocketRecord other = Socket(kListen, 8080, 0);
  auto t = Run({v4, v6, other, Socket(kNewSynRecv, 80, 50000), Socket(kNewSynRecv, 80, 50001),
                Socket(kSynRecv, 80, 50002), Socket(kEstablished, 80, 50003),
                Socket(kSynRecv, 40000, 80)});  // outbound to a remote 80: not ours
  ASSERT_EQ(t.listeners.size(), 2u);
  EXPECT_EQ(t.listeners[0].port, "80");
  EXPECT_EQ(t.listeners[0].drops, 12u);
  EXPECT_EQ(t.listeners[0].syn_recv, 3u);
  EXPECT_EQ(t.listeners[1].port, "8080");
  EXPECT_EQ(t.listeners[1].drops, 0u);
  EXPECT_EQ(t.listeners[1].syn_recv, 0u);
}

// Recv-Q / Send-Q bytes per port and per process, added to the counters each
// record touches; owners resolved after the dump keep theirs; a listener's
// queue fields (accept queue, backlog) are not bytes and are left out.
TEST_F(PollAggregatorTest, QueueBytesPerPortAndProcess) {
  owners.cache = {{1, 3}};
  owners.discoverable = {{2, 3}, {3, 1}};
  auto with_queues = [](SocketRecord r, uint32_t rq, uint32_t wq) {
    r.rqueue = rq;
    r.wqueue = wq;
    return r;
  };
  auto t = Run({with_queues(Socket(kListen, 80, 0), 5, 128),
                with_queues(Socket(kEstablished, 40000, 443, 1), 100, 7),
                with_queues(Socket(kCloseWait, 40001, 443, 2, 0xC), 1001, 0),
                with_queues(Socket(kEstablished, 80, 50000, 3), 0, 3000)});
  std::map<std::string, std::pair<uint64_t, uint64_t>> port;
  for (const auto& p : t.ports) {
    auto& b = port[p.port];
    b.first += p.recv_bytes;
    b.second += p.send_bytes;
  }
  EXPECT_EQ(port["443"], std::make_pair(uint64_t{1101}, uint64_t{7}));
  EXPECT_EQ(port["80"], std::make_pair(uint64_t{0}, uint64_t{3000}));
  std::map<std::string, std::pair<uint64_t, uint64_t>> process;
  for (const auto& p : t.processes) {
    auto& b = process[p.process];
    b.first += p.recv_bytes;
    b.second += p.send_bytes;
  }
  EXPECT_EQ(process["curl"], std::make_pair(uint64_t{1101}, uint64_t{7}));
  EXPECT_EQ(process["nginx"], std::make_pair(uint64_t{0}, uint64_t{3000}));
}

TEST_F(PollAggregatorTest, OutboundLocalPortsPerDestination) {
  std::vector<SocketRecord> records;
  for (uint16_t i = 0; i < 5; ++i) records.push_back(Socket(kTimeWait, 40000 + i, 443));
  for (uint16_t i = 0; i < 3; ++i) {
    auto r = Socket(kEstablished, 41000 + i, 443);
    r.remote_addr[3] = 9;  // another destination
    records.push_back(r);
  }
  records.push_back(Socket(kEstablished, 42000, 5432));
  auto t = Run(records);
  std::map<std::string, uint64_t> max;
  for (const auto& o : t.outbound) max[o.port] = o.max_local_ports;
  EXPECT_EQ(max["443"], 5u);
  EXPECT_EQ(max["5432"], 1u);
}

TEST_F(PollAggregatorTest, WithoutAttributionNoProcessSeries) {
  PollAggregator aggregator(config, kEphemeral, nullptr, tracker, 0);
  aggregator.BeginAttempt();
  aggregator.OnRecord(Socket(kCloseWait, 40000, 443, 7, 1));
  auto t = Finish(aggregator);
  EXPECT_FALSE(t.processes_enabled);
  EXPECT_TRUE(t.processes.empty());
  ASSERT_EQ(t.close_wait.size(), 1u);
  EXPECT_EQ(t.close_wait[0].process, "(unknown)");
}

TEST_F(PollAggregatorTest, RetryStartsFromZero) {
  PollAggregator aggregator(config, kEphemeral, &owners, tracker, 0);
  aggregator.BeginAttempt();
  aggregator.OnRecord(Socket(kEstablished, 40000, 443));
  aggregator.BeginAttempt();
  aggregator.OnRecord(Socket(kEstablished, 40000, 443));
  auto t = Finish(aggregator, &owners);
  EXPECT_EQ(t.total, 1u);
}

}  // namespace
}  // namespace tcpstate

// Records travel from the decoder to the aggregator in runs (RecordSink::OnRecords,
// one datagram's worth) so the owner look-ups of a run overlap their cache misses
// (issue 16); these tests hold the runs to what one-by-one delivery did.
namespace tcpstate {
namespace runs {
class CountingOwners : public OwnerDirectory {
 public:
  void BeginPoll() override {}
  std::optional<OwnerId> Lookup(uint32_t inode) override {
    ++lookups[inode];
    if (auto it = cache.find(inode); it != cache.end()) return it->second;
    return std::nullopt;
  }
  void Prefetch(uint32_t inode) const override { prefetched.push_back(inode); }
  void Resolve(std::span<const uint32_t> inodes) override {
    for (uint32_t inode : inodes) cache[inode] = inode % 3;  // found after the dump
  }
  void EndPoll() override {}
  const OwnerInfo& Owner(OwnerId id) const override { return owners.at(id); }

  std::map<OwnerId, OwnerInfo> owners{{0, {10, "a"}}, {1, {11, "b"}}, {2, {12, "c"}}};
  std::map<uint32_t, OwnerId> cache;
  std::map<uint32_t, int> lookups;
  mutable std::vector<uint32_t> prefetched;
};

std::vector<SocketRecord> MixedPopulation() {
  std::mt19937 rng(16);
  const uint8_t states[] = {kListen,   kEstablished, kCloseWait, kTimeWait,
                            kFinWait2, kSynRecv,     kLastAck};
  std::vector<SocketRecord> records;
  for (uint32_t i = 0; i < 700; ++i) {
    SocketRecord r;
    r.family = 2;
    r.state = states[rng() % std::size(states)];
    r.local_port = static_cast<uint16_t>(rng() % 2 ? 80 + rng() % 3 : 40000 + rng() % 20000);
    r.remote_port = static_cast<uint16_t>(r.state == kListen ? 0 : 443 + rng() % 30000);
    r.local_addr[0] = r.remote_addr[0] = 127;
    r.remote_addr[3] = static_cast<uint8_t>(rng() % 4);
    // TIME_WAIT and SYN_RECV have no struct socket: inode 0.
    r.inode = (r.state == kTimeWait || r.state == kSynRecv) ? 0 : 1000 + i;
    r.cookie = 5000 + i;
    records.push_back(r);
  }
  return records;
}

SocketTable Aggregate(const std::vector<SocketRecord>& records, CountingOwners& owners,
                      bool in_runs) {
  Config config;
  config.processes.states |= StateBit(kFinWait2);
  CloseWaitTracker tracker(1000);
  PollAggregator aggregator(config, PortRange{32768, 60999}, &owners, tracker, 1000);
  aggregator.BeginAttempt();
  if (in_runs) {
    // Runs of every size from 1 to 150 (the decoder sends at most 64).
    std::span<const SocketRecord> rest(records);
    for (size_t n = 1; !rest.empty(); n = n % 150 + 1) {
      const size_t take = std::min(n, rest.size());
      aggregator.OnRecords(rest.first(take));
      rest = rest.subspan(take);
    }
  } else {
    for (const auto& r : records) aggregator.OnRecord(r);
  }
  std::vector<uint32_t> pending;
  aggregator.AppendPendingInodes(pending);
  owners.Resolve(pending);
  return aggregator.Finish();
}

TEST(RecordRuns, AggregatorCountsRunsExactlyAsRecordsOneByOne) {
  const auto records = MixedPopulation();
  CountingOwners one_by_one, in_runs;
  for (auto* owners : {&one_by_one, &in_runs}) {
    for (const auto& r : records) {  // a third of the owned sockets cached
      if (r.inode != 0 && r.inode % 3 == 0) owners->cache[r.inode] = r.inode % 3;
    }
  }
  const SocketTable a = Aggregate(records, one_by_one, false);
  const SocketTable b = Aggregate(records, in_runs, true);

  EXPECT_EQ(a.total, b.total);
  EXPECT_EQ(a.by_state, b.by_state);
  ASSERT_EQ(a.ports.size(), b.ports.size());
  for (size_t i = 0; i < a.ports.size(); ++i) {
    EXPECT_EQ(a.ports[i].port, b.ports[i].port);
    EXPECT_EQ(a.ports[i].sockets, b.ports[i].sockets);
  }
  ASSERT_EQ(a.processes.size(), b.processes.size());
  ASSERT_FALSE(a.processes.empty());
  for (size_t i = 0; i < a.processes.size(); ++i) {
    EXPECT_EQ(a.processes[i].process, b.processes[i].process);
    EXPECT_EQ(a.processes[i].state, b.processes[i].state);
    EXPECT_EQ(a.processes[i].sockets, b.processes[i].sockets);
  }
  ASSERT_EQ(a.close_wait.size(), b.close_wait.size());
  ASSERT_FALSE(a.close_wait.empty());
  for (size_t i = 0; i < a.close_wait.size(); ++i) {
    EXPECT_EQ(a.close_wait[i].process, b.close_wait[i].process);
    EXPECT_EQ(a.close_wait[i].port, b.close_wait[i].port);
    EXPECT_EQ(a.close_wait[i].sockets, b.close_wait[i].sockets);
  }
  // The cache is asked about the same sockets, as often: attributed states
  // and CLOSE_WAIT with an inode, once during the dump, and once more after
  // it when they were not cached.
  EXPECT_EQ(one_by_one.lookups, in_runs.lookups);
  ASSERT_FALSE(in_runs.lookups.empty());
  for (const auto& [inode, times] : in_runs.lookups) {
    EXPECT_EQ(times, inode % 3 == 0 ? 1 : 2) << inode;
  }
  // Each prefetched once, just before its look-up in the dump.
  std::map<uint32_t, int> prefetched;
  for (uint32_t inode : in_runs.prefetched) ++prefetched[inode];
  ASSERT_EQ(prefetched.size(), in_runs.lookups.size());
  for (const auto& [inode, times] : prefetched) {
    EXPECT_EQ(times, 1) << inode;
    EXPECT_TRUE(in_runs.lookups.contains(inode)) << inode;
  }
}
}  // namespace runs
}  // namespace tcpstate
