#include "procfs/proc_stat.h"

#include <gtest/gtest.h>

#include <string>

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

}  // namespace
}  // namespace tcpstate
