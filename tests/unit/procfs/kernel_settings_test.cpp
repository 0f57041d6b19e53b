#include "procfs/kernel_settings.h"

#include <gtest/gtest.h>

#include "support/fake_proc.h"

namespace tcpstate {
namespace {

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

}  // namespace
}  // namespace tcpstate
