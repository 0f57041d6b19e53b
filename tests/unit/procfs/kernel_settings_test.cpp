#include "procfs/kernel_settings.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <map>

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
  EXPECT_EQ(settings->missing.size(), 13u);  // 17 known, 4 present
  bool shared = false;
  for (const auto& v : settings->values)
    shared |= v.sysctl == Sysctl::kTcpEhashEntries && v.value == -262144;
  EXPECT_TRUE(shared);
  auto range = EphemeralRangeOf(*settings);
  EXPECT_EQ(range.low, 10000);
  EXPECT_EQ(range.high, 20000);
}

// tcp_mem and sockstat's TCP mem are pages; published in bytes.
TEST(KernelSettings, TcpMemoryInBytes) {
  testing::FakeProc proc;
  proc.Write("sys/net/ipv4/tcp_mem", "287892\t383858\t575784\n");
  proc.Write("net/sockstat",
             "sockets: used 11\nTCP: inuse 1 orphan 0 tw 37 alloc 60005 mem 315\n"
             "UDP: inuse 0 mem 0\n");
  auto settings = ReadKernelSettings(proc.root());
  ASSERT_TRUE(settings.ok());
  std::map<Sysctl, int64_t> got;
  for (const auto& v : settings->values) got[v.sysctl] = v.value;
  const int64_t page = sysconf(_SC_PAGESIZE);
  EXPECT_EQ(got[Sysctl::kTcpMemLow], 287892 * page);
  EXPECT_EQ(got[Sysctl::kTcpMemPressure], 383858 * page);
  EXPECT_EQ(got[Sysctl::kTcpMemHigh], 575784 * page);
  EXPECT_EQ(got[Sysctl::kTcpMemoryInUse], 315 * page);  // TCP's, not UDP's mem
}

TEST(KernelSettings, NothingReadableIsAnError) {
  testing::FakeProc proc;
  EXPECT_FALSE(ReadKernelSettings(proc.root()).ok());
}

}  // namespace
}  // namespace tcpstate
