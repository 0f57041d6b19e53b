#include "procfs/proc_limits.h"

#include <gtest/gtest.h>

#include <string>

#include "support/fake_proc.h"

namespace tcpstate {
namespace {

// Linux 6.18's /proc/<pid>/limits, first lines.
constexpr const char* kLimits =
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max cpu time              unlimited            unlimited            seconds   \n"
    "Max processes             96363                96363                processes \n"
    "Max open files            1024                 20000                files     \n"
    "Max locked memory         8388608              8388608              bytes     \n";

TEST(OpenFilesLimit, ParsesSoftAndHard) {
  auto limit = ParseOpenFilesLimit(kLimits);
  ASSERT_TRUE(limit.ok()) << limit.error().message;
  EXPECT_EQ(limit->soft, 1024);
  EXPECT_EQ(limit->hard, 20000);
  auto unlimited = ParseOpenFilesLimit("Max open files  unlimited unlimited files\n");
  ASSERT_TRUE(unlimited.ok());
  EXPECT_EQ(unlimited->soft, -1);
  EXPECT_EQ(unlimited->hard, -1);
}

TEST(OpenFilesLimit, MalformedInputIsAnError) {
  EXPECT_FALSE(ParseOpenFilesLimit("").ok());
  EXPECT_FALSE(ParseOpenFilesLimit("Max processes 1 2 processes\n").ok());
  EXPECT_FALSE(ParseOpenFilesLimit("Max open files\n").ok());
  EXPECT_FALSE(ParseOpenFilesLimit("Max open files 1024\n").ok());
  EXPECT_FALSE(ParseOpenFilesLimit("Max open files -5 10 files\n").ok());
  EXPECT_FALSE(ParseOpenFilesLimit("Max open files 10x 20 files\n").ok());
  EXPECT_FALSE(ParseOpenFilesLimit("Max open files 99999999999999999999999 1 files\n").ok());
  // A name that only starts like it is another line.
  EXPECT_FALSE(ParseOpenFilesLimit("Max open filesystems 1 2\n").ok());
  EXPECT_FALSE(ParseOpenFilesLimit(std::string("Max open files \0 1 2\n", 21)).ok());
}

TEST(OpenFilesLimit, ReadsAProcesssFile) {
  testing::FakeProc proc;
  proc.Write("42/limits", kLimits);
  auto limit = ReadOpenFilesLimit(proc.root(), 42);
  ASSERT_TRUE(limit.ok()) << limit.error().message;
  EXPECT_EQ(limit->soft, 1024);
  EXPECT_FALSE(ReadOpenFilesLimit(proc.root(), 43).ok());
}

}  // namespace
}  // namespace tcpstate
