#include "aggregate/socket_detail.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <set>
#include <vector>

#include "aggregate/poll_aggregator.h"
#include "common/tcp_state.h"

namespace tcpstate {
namespace {

// Owners keyed by inode, all cached; fds known for inodes in `fds`.
class Owners : public OwnerDirectory {
 public:
  void BeginPoll() override {}
  std::optional<OwnerId> Lookup(uint32_t inode) override {
    if (pending_until_resolve.contains(inode)) return std::nullopt;
    if (auto it = cache.find(inode); it != cache.end()) return it->second;
    return std::nullopt;
  }
  void Resolve(std::span<const uint32_t> inodes) override {
    for (uint32_t inode : inodes) pending_until_resolve.erase(inode);
  }
  void EndPoll() override {}
  const OwnerInfo& Owner(OwnerId id) const override { return owners.at(id); }
  std::optional<uint32_t> FdOf(uint32_t inode) const override {
    if (auto it = fds.find(inode); it != fds.end()) return it->second;
    return std::nullopt;
  }
  std::map<OwnerId, OwnerInfo> owners{{1, {100, "billing"}}, {2, {200, "<b>x</b>"}}};
  std::map<uint32_t, OwnerId> cache;
  std::map<uint32_t, uint32_t> fds;
  std::set<uint32_t> pending_until_resolve;
};

SocketRecord Socket(uint8_t state, uint16_t local, uint8_t remote_host, uint16_t remote,
                    uint32_t inode, uint64_t cookie) {
  SocketRecord r;
  r.family = 2;
  r.state = state;
  r.local_port = local;
  r.remote_port = remote;
  r.local_addr = {10, 0, 0, 1};
  r.remote_addr = {10, 0, 0, remote_host};
  r.inode = inode;
  r.cookie = cookie;
  return r;
}

const PortRange kEphemeral{32768, 60999};

class SocketDetailTest : public ::testing::Test {
 protected:
  SocketTable Run(const std::vector<SocketRecord>& records, int64_t now_ms = 10'000) {
    PollAggregator aggregator(config, kEphemeral, &owners, tracker, now_ms);
    aggregator.BeginAttempt();
    for (const auto& r : records) aggregator.OnRecord(r);
    std::vector<uint32_t> pending;
    aggregator.AppendPendingInodes(pending);
    owners.Resolve(pending);
    return aggregator.Finish();
  }
  // `n` CLOSE_WAIT sockets of owner 1 toward 10.0.0.<host>:443, inodes from `inode`.
  void CloseWait(std::vector<SocketRecord>& out, uint8_t host, int n, uint32_t inode,
                 OwnerId owner = 1) {
    for (int i = 0; i < n; ++i) {
      out.push_back(Socket(kCloseWait, static_cast<uint16_t>(40000 + inode + i), host, 443,
                           inode + i, inode + i));
      owners.cache[inode + i] = owner;
      owners.fds[inode + i] = 100 + inode + i;
    }
  }
  Config config;
  Owners owners;
  CloseWaitTracker tracker{1'000'000};
};

TEST_F(SocketDetailTest, GroupsByOwnerAndRemoteAddressFoldingTheEphemeralPort) {
  std::vector<SocketRecord> records;
  CloseWait(records, 2, 7, 1000);
  CloseWait(records, 3, 3, 2000);
  CloseWait(records, 3, 2, 3000, 2);
  const SocketTable t = Run(records);
  ASSERT_EQ(t.detail.close_wait.size(), 3u);
  const DetailRow& top = t.detail.close_wait[0];
  EXPECT_EQ(top.process, "billing");
  EXPECT_EQ(top.pid, 100);
  EXPECT_EQ(top.direction, Direction::kOutbound);
  EXPECT_EQ(top.local_port, -1);  // 7 ephemeral ports, one row
  EXPECT_EQ(top.remote_address, "10.0.0.2");
  EXPECT_EQ(top.remote_port, 443);
  EXPECT_EQ(top.sockets, 7u);
  EXPECT_EQ(t.detail.close_wait[1].remote_address, "10.0.0.3");
  EXPECT_EQ(t.detail.close_wait[1].sockets, 3u);
  EXPECT_EQ(t.detail.close_wait[2].process, "<b>x</b>");
  EXPECT_EQ(t.detail.close_wait[2].sockets, 2u);
  EXPECT_EQ(t.detail.close_wait_not_shown, 0u);
  EXPECT_EQ(t.detail.local_port_range.low, kEphemeral.low);
}

TEST_F(SocketDetailTest, InboundRowsKeepTheLocalPortAndFoldTheClientPort) {
  std::vector<SocketRecord> records;
  records.push_back(Socket(kListen, 8080, 0, 0, 50, 50));
  for (uint32_t i = 0; i < 4; ++i) {
    records.push_back(
        Socket(kCloseWait, 8080, 9, static_cast<uint16_t>(50000 + i), 60 + i, 60 + i));
    owners.cache[60 + i] = 1;
  }
  const SocketTable t = Run(records);
  ASSERT_EQ(t.detail.close_wait.size(), 1u);
  EXPECT_EQ(t.detail.close_wait[0].direction, Direction::kInbound);
  EXPECT_EQ(t.detail.close_wait[0].local_port, 8080);
  EXPECT_EQ(t.detail.close_wait[0].remote_port, -1);
  EXPECT_EQ(t.detail.close_wait[0].sockets, 4u);
}

TEST_F(SocketDetailTest, OldestAgeAndFdNumbersOfTheTopRowsOnly) {
  config.pages.top = 1;
  config.pages.max_fds = 2;
  std::vector<SocketRecord> first;
  CloseWait(first, 2, 1, 1000);
  Run(first, 10'000);
  std::vector<SocketRecord> records;
  CloseWait(records, 2, 5, 1000);  // 1000 seen since the first poll
  CloseWait(records, 3, 1, 2000);
  const SocketTable t = Run(records, 40'000);
  ASSERT_EQ(t.detail.close_wait.size(), 2u);
  EXPECT_DOUBLE_EQ(t.detail.close_wait[0].oldest_age_seconds, 30.0);
  EXPECT_EQ(t.detail.close_wait[0].fds, (std::vector<uint32_t>{1100, 1101}));  // max_fds
  EXPECT_TRUE(t.detail.close_wait[1].fds.empty());                             // beyond top
}

TEST_F(SocketDetailTest, PendingOwnersAreResolvedBeforeGrouping) {
  std::vector<SocketRecord> records;
  CloseWait(records, 2, 3, 1000);
  owners.pending_until_resolve = {1000, 1002};
  const SocketTable t = Run(records);
  ASSERT_EQ(t.detail.close_wait.size(), 1u);
  EXPECT_EQ(t.detail.close_wait[0].sockets, 3u);
  EXPECT_EQ(t.detail.close_wait[0].pid, 100);
  EXPECT_EQ(t.detail.close_wait[0].fds.size(), 3u);
}

TEST_F(SocketDetailTest, TimeWaitByDestination) {
  std::vector<SocketRecord> records;
  for (uint32_t i = 0; i < 6; ++i) {
    records.push_back(Socket(kTimeWait, static_cast<uint16_t>(33000 + i), 4, 80, 0, 900 + i));
  }
  records.push_back(Socket(kTimeWait, 33100, 5, 80, 0, 999));
  const SocketTable t = Run(records);
  ASSERT_EQ(t.detail.time_wait.size(), 2u);
  EXPECT_EQ(t.detail.time_wait[0].remote_address, "10.0.0.4");
  EXPECT_EQ(t.detail.time_wait[0].remote_port, 80);
  EXPECT_EQ(t.detail.time_wait[0].sockets, 6u);
  EXPECT_EQ(t.detail.time_wait[0].process, "");
}

TEST_F(SocketDetailTest, GroupCapCountsTheRestAsNotShown) {
  config.pages.max_groups = 3;
  std::vector<SocketRecord> records;
  for (uint8_t host = 1; host <= 5; ++host) CloseWait(records, host, 2, host * 100u);
  const SocketTable t = Run(records);
  EXPECT_EQ(t.detail.close_wait.size(), 3u);
  EXPECT_EQ(t.detail.close_wait_not_shown, 4u);
  uint64_t sockets = 0;
  for (const auto& s : t.close_wait) sockets += s.sockets;
  EXPECT_EQ(sockets, 10u);  // the metrics count every socket
}

TEST_F(SocketDetailTest, OffGathersNothing) {
  config.pages.enabled = false;
  std::vector<SocketRecord> records;
  CloseWait(records, 2, 3, 1000);
  const SocketTable t = Run(records);
  EXPECT_FALSE(t.detail.enabled);
  EXPECT_TRUE(t.detail.close_wait.empty());
}

// The memory measurement of docs/http.md ("Memory"): bytes the rows hold at the
// configured caps, whatever the number of sockets. Run:
//   build/tests/unit_aggregate --gtest_filter='*MemoryAtTheCaps*'
TEST(SocketDetailMemory, MemoryAtTheCaps) {
  Config::Pages pages;  // defaults: 1,000 groups, 8 fds a group
  SocketDetail detail(pages);
  Owners owners;
  auto fill = [&](uint32_t sockets, uint32_t peers) {
    detail.Clear();
    for (uint32_t i = 0; i < sockets; ++i) {
      SocketRecord r = Socket(kCloseWait, 40000, 0, 443, 1 + i, 1 + i);
      r.remote_addr = {10, static_cast<uint8_t>(i % peers >> 16),
                       static_cast<uint8_t>(i % peers >> 8), static_cast<uint8_t>(i % peers)};
      detail.AddCloseWait(1, detail.CloseWaitEndpoint(r, Direction::kOutbound), r.inode, 0,
                          CloseWaitCause::kNotClosed);
      SocketRecord tw = r;
      tw.state = kTimeWait;
      detail.AddTimeWait(tw, Direction::kOutbound);
    }
    return detail.memory_bytes();
  };
  const size_t one_peer = fill(100'000, 1);
  const size_t at_caps = fill(100'000, 100'000);
  const size_t at_caps_1m = fill(1'000'000, 1'000'000);
  std::printf(
      "pages memory: 100,000 CLOSE_WAIT + TIME_WAIT sockets, 1 peer: %zu bytes; "
      "100,000 peers (caps reached): %zu bytes; 1,000,000 peers: %zu bytes "
      "(%.1f bytes a group and state)\n",
      one_peer, at_caps, at_caps_1m, static_cast<double>(at_caps) / 2 / pages.max_groups);
  // What the snapshot keeps of them until the next poll: the rows.
  Owners none;
  const DetailTable rows = detail.Finish(&none, 0, kEphemeral);
  size_t row_bytes = 0;
  for (const auto* list : {&rows.close_wait, &rows.time_wait}) {
    row_bytes += list->capacity() * sizeof(DetailRow);
    for (const DetailRow& r : *list) {
      row_bytes += r.fds.capacity() * sizeof(uint32_t);
      if (r.process.capacity() > 15) row_bytes += r.process.capacity() + 1;
      if (r.remote_address.capacity() > 15) row_bytes += r.remote_address.capacity() + 1;
    }
  }
  std::printf("pages memory: the published rows at the caps: %zu rows, %zu bytes (%zu a row)\n",
              rows.close_wait.size() + rows.time_wait.size(), row_bytes, sizeof(DetailRow));
  EXPECT_EQ(rows.close_wait.size() + rows.time_wait.size(), 2u * pages.max_groups);
  EXPECT_LT(one_peer, 4'096u);
  EXPECT_EQ(at_caps, at_caps_1m);  // bounded by the caps, not by the sockets
  EXPECT_LT(at_caps, 2 * pages.max_groups * (24 + 16 + 8 + 8 * 4 + 1 + 2 * 32) + 8192);
}

}  // namespace
}  // namespace tcpstate
