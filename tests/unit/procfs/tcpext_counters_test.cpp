#include "procfs/tcpext_counters.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>

namespace tcpstate {
namespace {

TEST(TcpExt, ParsesKnownFields) {
  const std::string netstat =
      "TcpExt: SyncookiesSent TW TWRecycled TWKilled ListenOverflows ListenDrops "
      "TCPAbortOnClose TCPAbortOnTimeout TCPTimeWaitOverflow\n"
      "TcpExt: 0 11 2 3 4 5 6 7 8\n"
      "IpExt: InNoRoutes\nIpExt: 0\n";
  auto counters = ParseTcpExtCounters(netstat);
  ASSERT_TRUE(counters.ok()) << counters.error().message;
  std::map<std::string, uint64_t> by_field;
  for (const auto& c : *counters) by_field[std::string(TcpExtFieldName(c.field))] = c.value;
  EXPECT_EQ(by_field.size(), 8u);
  EXPECT_EQ(by_field["TW"], 11u);
  EXPECT_EQ(by_field["TCPTimeWaitOverflow"], 8u);
  EXPECT_EQ(by_field["ListenOverflows"], 4u);
}

TEST(TcpExt, MismatchedLinesAreAnError) {
  EXPECT_FALSE(ParseTcpExtCounters("TcpExt: TW TWKilled\nTcpExt: 1\n").ok());
  EXPECT_FALSE(ParseTcpExtCounters("TcpExt: TW\nTcpExt: x\n").ok());
  EXPECT_FALSE(ParseTcpExtCounters("Ip: a\nIp: 1\n").ok());
}

}  // namespace
}  // namespace tcpstate
