#include "common/tcp_state.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace tcpstate {
namespace {

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
