#include "procfs/proc_net_section.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tcpstate {
namespace {

constexpr std::string_view kWanted[] = {"OutRsts", "ActiveOpens", "Missing"};

// Values in `wanted` order, as "index=value".
std::vector<std::string> Found(const Result<std::vector<SectionValue>>& r) {
  std::vector<std::string> out;
  for (const SectionValue& v : *r)
    out.push_back(std::to_string(v.field) + "=" + std::to_string(v.value));
  return out;
}

TEST(ProcNetSection, FindsItsOwnSectionNotOneWithALongerPrefix) {
  const std::string text =
      "TcpExt: ActiveOpens OutRsts\nTcpExt: 1 2\n"
      "Tcp: MaxConn ActiveOpens OutRsts\nTcp: -1 30 40\n";
  auto tcp = ParseProcNetSection(text, "Tcp:", kWanted, "snmp");
  ASSERT_TRUE(tcp.ok()) << tcp.error().message;
  EXPECT_EQ(Found(tcp), (std::vector<std::string>{"0=40", "1=30"}));  // MaxConn not parsed
  auto ext = ParseProcNetSection(text, "TcpExt:", kWanted, "netstat");
  ASSERT_TRUE(ext.ok()) << ext.error().message;
  EXPECT_EQ(Found(ext), (std::vector<std::string>{"0=2", "1=1"}));
}

TEST(ProcNetSection, ErrorsNameTheFileAndTheSection) {
  auto message = [](std::string_view text) {
    auto r = ParseProcNetSection(text, "TcpExt:", kWanted, "netstat");
    return r.ok() ? std::string("ok") : r.error().message;
  };
  EXPECT_EQ(message("Ip: a\nIp: 1\n"), "netstat: no TcpExt section");
  EXPECT_EQ(message("TcpExt: OutRsts\n"), "netstat: no TcpExt section");
  EXPECT_EQ(message("TcpExt: OutRsts\nIp: 1\n"), "netstat: TcpExt header without a value line");
  EXPECT_EQ(message("TcpExt: OutRsts X\nTcpExt: 1\n"),
            "netstat: TcpExt header and value counts differ");
  EXPECT_EQ(message("TcpExt: OutRsts\nTcpExt: -1\n"), "netstat: bad value for OutRsts");
}

TEST(ProcNetSection, AThousandFieldsAreALineTooMany) {
  auto line_of = [](int n, const char* word) {
    std::string s = "Tcp:";
    for (int i = 0; i < n; ++i) s += std::string(" ") + word;
    return s + "\n";
  };
  EXPECT_TRUE(
      ParseProcNetSection(line_of(1024, "X") + line_of(1024, "1"), "Tcp:", kWanted, "snmp").ok());
  auto r = ParseProcNetSection(line_of(1025, "X") + line_of(1025, "1"), "Tcp:", kWanted, "snmp");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "snmp: too many Tcp fields");
}

}  // namespace
}  // namespace tcpstate
