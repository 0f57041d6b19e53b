#include "netns/netns_discovery.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace tcpstate {
namespace {

TEST(NetnsLink, Parses) {
  uint64_t inode = 0;
  ASSERT_TRUE(ParseNetnsLink("net:[4026531840]", &inode));
  EXPECT_EQ(inode, 4026531840u);
  EXPECT_FALSE(ParseNetnsLink("mnt:[4026531840]", &inode));
  EXPECT_FALSE(ParseNetnsLink("net:[]", &inode));
  EXPECT_FALSE(ParseNetnsLink("net:[12x]", &inode));
}

}  // namespace
}  // namespace tcpstate
