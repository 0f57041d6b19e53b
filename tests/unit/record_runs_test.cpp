// Records travel from the decoder to the aggregator in runs (one datagram's
// worth), so that the aggregator can look the owners of a run up in a loop of
// their own (issue 16: at 100,000 sockets the owner cache outgrows the CPU's,
// and look-ups one by one waited for memory each time). These tests hold the
// runs to what one-by-one delivery did: same records, same order, same
// counts, same look-ups.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "aggregate/poll_aggregator.h"
#include "common/flat_hash_map.h"
#include "common/tcp_state.h"
#include "netlink/inet_diag_decoder.h"
#include "netlink/tcp_table_reader.h"
#include "netlink_builder.h"
#include "scripted_transport.h"

namespace tcpstate {
namespace {

using testing::Bytes;
using testing::DiagMessage;
using testing::DoneMessage;
using testing::SocketSpec;

constexpr uint32_t kSeq = 7;
constexpr uint32_t kPid = 99;

// Records what arrives, and how: OnRecord alone, or in runs.
class RunSink : public TableSink {
 public:
  void BeginAttempt() override {
    records.clear();
    runs.clear();
  }
  void OnRecord(const SocketRecord& r) override {
    records.push_back(r);
    ++single;
  }
  void OnRecords(std::span<const SocketRecord> run) override {
    runs.push_back(run.size());
    records.insert(records.end(), run.begin(), run.end());
  }
  std::vector<SocketRecord> records;
  std::vector<size_t> runs;
  size_t single = 0;
};

TEST(RecordRuns, DecoderHandsADatagramOnInRunsInDumpOrder) {
  Bytes datagram;
  for (uint32_t i = 1; i <= 150; ++i) {
    SocketSpec spec;
    spec.state = kEstablished;
    spec.inode = i;
    auto m = DiagMessage(kSeq, kPid, spec);
    datagram.insert(datagram.end(), m.begin(), m.end());
  }
  RunSink sink;
  ChunkStats stats;
  auto status = DecodeDumpChunk(datagram, DumpIdentity{kSeq, kPid}, sink, stats);
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ(sink.single, 0u);
  EXPECT_EQ(sink.runs, (std::vector<size_t>{64, 64, 22}));
  ASSERT_EQ(sink.records.size(), 150u);
  for (uint32_t i = 0; i < 150; ++i) EXPECT_EQ(sink.records[i].inode, i + 1);
  EXPECT_EQ(stats.records, 150u);
}

TEST(RecordRuns, RecordsBeforeAFailureStillReachTheSink) {
  Bytes datagram;
  for (uint32_t i = 1; i <= 3; ++i) {
    SocketSpec spec;
    spec.inode = i;
    auto m = DiagMessage(kSeq, kPid, spec);
    datagram.insert(datagram.end(), m.begin(), m.end());
  }
  auto foreign = DiagMessage(kSeq + 1, kPid, SocketSpec{});  // another dump's reply
  datagram.insert(datagram.end(), foreign.begin(), foreign.end());
  RunSink sink;
  ChunkStats stats;
  auto status = DecodeDumpChunk(datagram, DumpIdentity{kSeq, kPid}, sink, stats);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::kUnexpected);
  ASSERT_EQ(sink.records.size(), 3u);
  EXPECT_EQ(sink.records[2].inode, 3u);
}

TEST(RecordRuns, StatesOutsideTheRequestSplitARunWithoutReordering) {
  // A replayed recording answers every request with every state: the filter
  // drops what was not asked for and passes the rest on in order.
  testing::ScriptedFactory factory([](uint8_t family, uint32_t, uint32_t seq) {
    Bytes datagram;
    const uint8_t states[] = {kEstablished, kListen, kEstablished, kEstablished,
                              kListen,      kListen, kEstablished};
    uint32_t inode = 0;
    for (uint8_t state : states) {
      SocketSpec spec;
      spec.family = family;
      spec.state = state;
      spec.local_port = 80;
      spec.remote_port = state == kListen ? 0 : 5000;
      spec.inode = ++inode;
      auto m = DiagMessage(seq, testing::kScriptedPortId, spec);
      datagram.insert(datagram.end(), m.begin(), m.end());
    }
    auto done = DoneMessage(seq, testing::kScriptedPortId);
    datagram.insert(datagram.end(), done.begin(), done.end());
    return std::vector<testing::Step>{{datagram}};
  });
  TcpTableReader reader(factory, 3, DumpStrategy::kPerFamily);
  RunSink sink;
  TableReadStats stats;
  ASSERT_TRUE(reader.Read(sink, stats).ok());
  // Per family: the listener request keeps inodes 2, 5, 6; the other one
  // 1, 3, 4, 7. Each socket once, in dump order within its request.
  std::map<uint8_t, std::vector<uint32_t>> by_request;
  for (const auto& r : sink.records) by_request[r.state].push_back(r.inode);
  EXPECT_EQ(by_request[kListen], (std::vector<uint32_t>{2, 5, 6, 2, 5, 6}));
  EXPECT_EQ(by_request[kEstablished], (std::vector<uint32_t>{1, 3, 4, 7, 1, 3, 4, 7}));
  EXPECT_EQ(sink.single, 0u);
  for (size_t run : sink.runs) EXPECT_GT(run, 0u);
}

// Owner cache that counts what it is asked.
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

TEST(RecordRuns, LargeHashArraysAreAlignedToHugePagesAndZeroed) {
  // 4 MiB: the slot array of ~180,000 cached sockets.
  const size_t bytes = size_t{4} << 20;
  auto* memory = static_cast<uint8_t*>(flat_hash_detail::AllocateZeroed(bytes));
  ASSERT_NE(memory, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(memory) % (size_t{2} << 20), 0u);
  // Offered to transparent huge pages: where THP is "madvise" (Debian's
  // default), only a region given MADV_HUGEPAGE is eligible.
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes((std::istreambuf_iterator<char>(thp)), {});
  if (modes.find("[madvise]") != std::string::npos) {
    std::ifstream smaps("/proc/self/smaps");
    std::string line;
    char start[32];
    std::snprintf(start, sizeof(start), "%lx-",
                  static_cast<unsigned long>(reinterpret_cast<uintptr_t>(memory)));
    bool in_region = false;
    int eligible = -1;
    while (std::getline(smaps, line)) {
      if (line.rfind(start, 0) == 0) in_region = true;
      if (in_region && line.rfind("THPeligible:", 0) == 0) {
        eligible = std::stoi(line.substr(12));
        break;
      }
    }
    EXPECT_EQ(eligible, 1);
  }
  for (size_t i = 0; i < bytes; i += 4096) ASSERT_EQ(memory[i], 0) << i;
  memory[bytes - 1] = 1;  // the whole range is mapped
  flat_hash_detail::Free(memory, bytes);

  FlatHashMap<uint32_t, uint64_t> map;
  for (uint32_t k = 1; k <= 300000; ++k) map.InsertOrAssign(k, k * 2);
  EXPECT_GE(map.memory_bytes(), size_t{2} << 20);
  for (uint32_t k = 1; k <= 300000; k += 7) {
    map.Prefetch(k);
    ASSERT_NE(map.Find(k), nullptr);
    EXPECT_EQ(*map.Find(k), k * 2);
  }
  map.Prefetch(999999);  // absent keys are harmless
  EXPECT_EQ(map.Find(999999), nullptr);
}

}  // namespace
}  // namespace tcpstate
