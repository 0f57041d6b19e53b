#include "procfs/snmp_counters.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>

#include "support/fake_proc.h"

namespace tcpstate {
namespace {

// Linux 6.18's /proc/net/snmp, shortened to the lines around Tcp.
constexpr const char* kSnmp =
    "Icmp: InMsgs InErrors\n"
    "Icmp: 3 0\n"
    "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails "
    "EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n"
    "Tcp: 1 200 120000 -1 2331 1268 894 4 0 32238 26117 17 2 920 0\n"
    "Udp: InDatagrams NoPorts\n"
    "Udp: 5 6\n";

std::map<std::string, uint64_t> ByName(const std::vector<SnmpTcpCounter>& counters) {
  std::map<std::string, uint64_t> by_name;
  for (const auto& c : counters) by_name[std::string(SnmpTcpFieldName(c.field))] = c.value;
  return by_name;
}

TEST(SnmpTcp, ParsesTheKernelsTcpLines) {
  auto counters = ParseSnmpTcpCounters(kSnmp);
  ASSERT_TRUE(counters.ok()) << counters.error().message;
  const auto by_name = ByName(*counters);
  EXPECT_EQ(by_name, (std::map<std::string, uint64_t>{{"ActiveOpens", 2331},
                                                      {"PassiveOpens", 1268},
                                                      {"AttemptFails", 894},
                                                      {"EstabResets", 4},
                                                      {"RetransSegs", 17},
                                                      {"InErrs", 2},
                                                      {"OutRsts", 920}}));
  // Published in enum order.
  ASSERT_EQ(counters->size(), kSnmpTcpFieldCount);
  for (size_t i = 0; i < counters->size(); ++i) {
    EXPECT_EQ(static_cast<size_t>((*counters)[i].field), i);
  }
}

TEST(SnmpTcp, FieldsTheKernelLacksAreLeftOut) {
  auto counters = ParseSnmpTcpCounters("Tcp: ActiveOpens MaxConn\nTcp: 7 -1");
  ASSERT_TRUE(counters.ok()) << counters.error().message;
  EXPECT_EQ(ByName(*counters), (std::map<std::string, uint64_t>{{"ActiveOpens", 7}}));
}

TEST(SnmpTcp, MalformedInputIsAnError) {
  // Counts differ, a bad or negative or overflowing value, no section, a
  // header without values, TcpExt is not Tcp, a line of endless fields.
  EXPECT_FALSE(ParseSnmpTcpCounters("Tcp: ActiveOpens OutRsts\nTcp: 1\n").ok());
  EXPECT_FALSE(ParseSnmpTcpCounters("Tcp: ActiveOpens\nTcp: x\n").ok());
  EXPECT_FALSE(ParseSnmpTcpCounters("Tcp: ActiveOpens\nTcp: -3\n").ok());
  EXPECT_FALSE(ParseSnmpTcpCounters("Tcp: ActiveOpens\nTcp: 99999999999999999999999\n").ok());
  EXPECT_FALSE(ParseSnmpTcpCounters("Tcp: ActiveOpens\nTcp: 12abc\n").ok());
  EXPECT_FALSE(ParseSnmpTcpCounters("Udp: a\nUdp: 1\n").ok());
  EXPECT_FALSE(ParseSnmpTcpCounters("Tcp: ActiveOpens\n").ok());
  EXPECT_FALSE(ParseSnmpTcpCounters("Tcp: ActiveOpens\nUdp: 1\n").ok());
  EXPECT_FALSE(ParseSnmpTcpCounters("TcpExt: ActiveOpens\nTcpExt: 1\n").ok());
  EXPECT_FALSE(ParseSnmpTcpCounters("").ok());
  std::string endless = "Tcp:";
  std::string values = "Tcp:";
  for (int i = 0; i < 2000; ++i) {
    endless += " ActiveOpens";
    values += " 1";
  }
  EXPECT_FALSE(ParseSnmpTcpCounters(endless + "\n" + values + "\n").ok());
  EXPECT_FALSE(ParseSnmpTcpCounters(std::string("Tcp: ActiveOpens\nTcp: 1\0 2\n", 27)).ok());
}

TEST(SnmpTcp, ReadsTheFileOfANetDirectory) {
  testing::FakeProc proc;
  proc.Write("net/snmp", kSnmp);
  auto counters = ReadSnmpTcpCounters(proc.root() / "net");
  ASSERT_TRUE(counters.ok()) << counters.error().message;
  EXPECT_EQ(ByName(*counters).at("ActiveOpens"), 2331u);
  EXPECT_FALSE(ReadSnmpTcpCounters(proc.root() / "missing").ok());
}

}  // namespace
}  // namespace tcpstate
