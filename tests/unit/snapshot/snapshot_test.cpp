// The snapshot module's one table: source label values (tcpstate_source_up{source=...}).
#include "snapshot/snapshot.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace tcpstate {
namespace {

TEST(SourceName, EverySourceHasItsPublishedLabelValue) {
  // The golden file and dashboards use these values: they never change.
  EXPECT_EQ(SourceName(Source::kNetstat), "netstat");
  EXPECT_EQ(SourceName(Source::kProcess), "process");
  EXPECT_EQ(SourceName(Source::kSnmp), "snmp");
  EXPECT_EQ(SourceName(Source::kSockDiag), "sock_diag");
  EXPECT_EQ(SourceName(Source::kSysctl), "sysctl");
}

TEST(SourceName, NamesAreDistinctValidLabelValues) {
  std::set<std::string> seen;
  for (size_t i = 0; i < kSourceCount; ++i) {
    const std::string name(SourceName(static_cast<Source>(i)));
    ASSERT_FALSE(name.empty()) << i;
    for (char c : name) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << name;
    EXPECT_TRUE(seen.insert(name).second) << "duplicate " << name;
  }
  EXPECT_EQ(seen.size(), kSourceCount);
}

}  // namespace
}  // namespace tcpstate
