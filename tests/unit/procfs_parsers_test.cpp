#include <gtest/gtest.h>

#include "common/utf8.h"
#include "fake_proc.h"
#include "common/tcp_state.h"
#include "procfs/kernel_settings.h"
#include "procfs/proc_stat.h"
#include "procfs/tcpext_counters.h"

namespace tcpstate {
namespace {

TEST(ProcStat, CommWithParenthesesAndSpaces) {
  std::string stat = "42 (a) b (c) S";
  for (int f = 4; f <= 21; ++f) stat += " 0";
  stat += " 777 9";
  auto id = ParseProcStat(stat);
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_EQ(id->comm, "a) b (c");
  EXPECT_EQ(id->start_time, 777u);
}

TEST(ProcStat, TooShort) {
  EXPECT_FALSE(ParseProcStat("42 (x) S 1 2").ok());
  EXPECT_FALSE(ParseProcStat("garbage").ok());
}

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

TEST(KernelSettings, ReadsSysctlsAndListsMissing) {
  testing::FakeProc proc;
  proc.Write("sys/net/ipv4/tcp_max_tw_buckets", "262144\n");
  proc.Write("sys/net/ipv4/ip_local_port_range", "10000\t20000\n");
  // Negative in a namespace that shares the node's established hash.
  proc.Write("sys/net/ipv4/tcp_ehash_entries", "-262144\n");
  auto settings = ReadKernelSettings(proc.root());
  ASSERT_TRUE(settings.ok());
  EXPECT_EQ(settings->values.size(), 4u);
  EXPECT_EQ(settings->missing.size(), 9u);  // 13 known, 4 present
  bool shared = false;
  for (const auto& v : settings->values)
    shared |= v.sysctl == Sysctl::kTcpEhashEntries && v.value == -262144;
  EXPECT_TRUE(shared);
  auto range = EphemeralRangeOf(*settings);
  EXPECT_EQ(range.low, 10000);
  EXPECT_EQ(range.high, 20000);
}

TEST(KernelSettings, NothingReadableIsAnError) {
  testing::FakeProc proc;
  EXPECT_FALSE(ReadKernelSettings(proc.root()).ok());
}

TEST(Utf8, ValidTextUnchanged) {
  EXPECT_EQ(SanitizeLabelValue("nginx"), "nginx");
  EXPECT_EQ(SanitizeLabelValue("café"), "café");
  EXPECT_EQ(SanitizeLabelValue("日本"), "日本");
}

TEST(Utf8, InvalidAndControlBytesReplaced) {
  EXPECT_EQ(SanitizeLabelValue("a\xff"
                               "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeLabelValue("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
  EXPECT_EQ(SanitizeLabelValue("\xED\xA0\x80"),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(SanitizeLabelValue("a\tb"),
            "a\xEF\xBF\xBD"
            "b");
}

TEST(Utf8, CutOnCharacterBoundary) {
  EXPECT_EQ(SanitizeLabelValue("ééé", 5), "éé");
  EXPECT_EQ(SanitizeLabelValue("abcdef", 3), "abc");
}

TEST(TcpState, LabelsRoundTrip) {
  for (uint8_t s = 1; s <= 20; ++s) {
    uint8_t parsed = 0;
    ASSERT_TRUE(ParseStateLabel(StateLabel(s), &parsed)) << StateLabel(s);
    EXPECT_EQ(parsed, s);
  }
  EXPECT_EQ(StateLabel(kCloseWait), "close_wait");
  EXPECT_EQ(StateLabel(14), "state_14");
  uint8_t unused;
  EXPECT_FALSE(ParseStateLabel("closed", &unused));
}

}  // namespace
}  // namespace tcpstate
