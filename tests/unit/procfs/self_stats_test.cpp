// The process_* metrics' sources: the /proc/self/stat and /proc/stat parsers
// (procfs/self_stats.h) on fixture strings, and a read of this process.
#include "procfs/self_stats.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace tcpstate {
namespace {

// A real line of /proc/self/stat with comm "a b) (c" : fields 14/15 (utime,
// stime) 250 and 50, 22 (starttime) 123456, 23 (vsize) 10485760, 24 (rss) 2048.
constexpr const char* kStat =
    "4242 (a b) (c) S 1 4242 4242 0 -1 4194560 5000 0 0 0 250 50 0 0 20 0 3 0 123456 "
    "10485760 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

TEST(ParseSelfStat, ReadsFieldsAfterTheLastParenthesis) {
  auto fields = ParseSelfStat(kStat);
  ASSERT_TRUE(fields.ok()) << fields.error().message;
  EXPECT_EQ(fields->utime_ticks, 250u);
  EXPECT_EQ(fields->stime_ticks, 50u);
  EXPECT_EQ(fields->start_time_ticks, 123456u);
  EXPECT_EQ(fields->vsize_bytes, 10485760u);
  EXPECT_EQ(fields->rss_pages, 2048);
}

TEST(ParseSelfStat, CommWithFieldsLookalike) {
  // A process may name itself ") R 1 2 3 4 5 6 7 8 9 10 11 12 13 14": the
  // numbers inside the name must not be taken for fields.
  auto fields = ParseSelfStat(
      "7 () 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9) R 1 7 7 0 -1 0 0 0 0 0 11 22 0 0 20 0 "
      "1 0 33 44 55 0 0\n");
  ASSERT_TRUE(fields.ok()) << fields.error().message;
  EXPECT_EQ(fields->utime_ticks, 11u);
  EXPECT_EQ(fields->stime_ticks, 22u);
  EXPECT_EQ(fields->start_time_ticks, 33u);
  EXPECT_EQ(fields->vsize_bytes, 44u);
  EXPECT_EQ(fields->rss_pages, 55);
}

TEST(ParseSelfStat, RejectsMalformed) {
  EXPECT_FALSE(ParseSelfStat("").ok());
  EXPECT_FALSE(ParseSelfStat("1 no parentheses S 1 2 3").ok());
  EXPECT_FALSE(ParseSelfStat("1 (x) S 1 2 3 4 5 6 7 8 9 10\n").ok());  // too few fields
  EXPECT_FALSE(
      ParseSelfStat("1 (x) S 1 1 1 0 -1 0 0 0 0 0 ten 5 0 0 20 0 1 0 3 4 5\n").ok());  // utime
}

TEST(ParseBootTime, FindsBtime) {
  auto btime = ParseBootTime(
      "cpu  1 2 3 4 5 6 7 0 0 0\ncpu0 1 2 3 4 5 6 7 0 0 0\nintr 12345 0 0 1\nctxt 99\n"
      "btime 1764770000\nprocesses 100\nprocs_running 1\n");
  ASSERT_TRUE(btime.ok()) << btime.error().message;
  EXPECT_EQ(*btime, 1764770000u);
  EXPECT_FALSE(ParseBootTime("cpu 1 2 3\nctxt 5\n").ok());
  EXPECT_FALSE(ParseBootTime("btime soon\n").ok());
}

TEST(ComputeProcessStats, ConvertsTicksAndPages) {
  auto fields = ParseSelfStat(kStat);
  ASSERT_TRUE(fields.ok());
  const ProcessStats stats = ComputeProcessStats(*fields, 1'764'770'000, 100, 4096);
  EXPECT_DOUBLE_EQ(stats.cpu_seconds, 3.0);               // (250 + 50) / 100
  EXPECT_DOUBLE_EQ(stats.resident_bytes, 2048.0 * 4096);  // 8 MiB
  EXPECT_DOUBLE_EQ(stats.virtual_bytes, 10485760.0);
  EXPECT_DOUBLE_EQ(stats.start_time_seconds, 1'764'770'000 + 1234.56);
}

TEST(ReadSelfProcessStats, SaneForThisProcess) {
  auto stats = ReadSelfProcessStats();
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_GT(stats->resident_bytes, 1e6);
  EXPECT_LT(stats->resident_bytes, 4e9);
  EXPECT_GE(stats->virtual_bytes, stats->resident_bytes);
  EXPECT_GE(stats->cpu_seconds, 0.0);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(stats->start_time_seconds, now + 1);
  EXPECT_GT(stats->start_time_seconds, now - 24 * 3600);
  ASSERT_TRUE(stats->open_fds.has_value());
  EXPECT_GE(*stats->open_fds, 3.0);  // stdin, stdout, stderr at least
  // One more open descriptor shows.
  const int extra = ::dup(2);
  ASSERT_GE(extra, 0);
  auto again = ReadSelfProcessStats();
  ::close(extra);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again->open_fds, *stats->open_fds + 1);
}

}  // namespace
}  // namespace tcpstate
