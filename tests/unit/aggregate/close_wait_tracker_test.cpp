#include "aggregate/close_wait_tracker.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <unordered_map>

namespace tcpstate {
namespace {

// The tracker as it was with two std::unordered_maps (before the compact
// table): the new one must answer exactly like it.
class ReferenceTracker {
 public:
  explicit ReferenceTracker(uint32_t max_tracked) : max_tracked_(max_tracked) {}
  void set_max_tracked(uint32_t max_tracked) { max_tracked_ = max_tracked; }
  void Begin() { current_.clear(); }
  int64_t Observe(uint64_t cookie, int64_t now_ms) {
    if (current_.empty()) untracked_ = 0;
    if (auto it = current_.find(cookie); it != current_.end()) return it->second;
    int64_t first_seen = now_ms;
    if (auto it = previous_.find(cookie); it != previous_.end()) first_seen = it->second;
    if (current_.size() < max_tracked_) {
      current_.emplace(cookie, first_seen);
    } else {
      ++untracked_;
    }
    return first_seen;
  }
  void Commit() {
    previous_.swap(current_);
    current_.clear();
  }
  size_t tracked() const { return previous_.size(); }
  uint64_t untracked() const { return untracked_; }

 private:
  uint32_t max_tracked_;
  uint64_t untracked_ = 0;
  std::unordered_map<uint64_t, int64_t> previous_;
  std::unordered_map<uint64_t, int64_t> current_;
};

TEST(CloseWaitTrackerTest, AgeCountsFromTheFirstPoll) {
  CloseWaitTracker tracker(100);
  tracker.Begin();
  EXPECT_EQ(tracker.Observe(7, 1'000), 1'000);
  EXPECT_EQ(tracker.Observe(7, 1'500), 1'000);  // twice in one dump
  tracker.Commit();
  EXPECT_EQ(tracker.tracked(), 1u);
  tracker.Begin();
  EXPECT_EQ(tracker.Observe(7, 16'000), 1'000);
  EXPECT_EQ(tracker.Observe(8, 16'000), 16'000);
  tracker.Commit();
  EXPECT_EQ(tracker.tracked(), 2u);
  tracker.Begin();
  EXPECT_EQ(tracker.Observe(8, 31'000), 16'000);
  tracker.Commit();  // 7 left CLOSE_WAIT
  EXPECT_EQ(tracker.tracked(), 1u);
  tracker.Begin();
  EXPECT_EQ(tracker.Observe(7, 46'000), 46'000);  // back: a new socket for us
  tracker.Commit();
}

// The two flags share the first-seen time's word: the largest time the
// monotonic clock can reach in 62 bits, and times with either top bit's
// neighbour set, come back exact whatever the flags are.
TEST(CloseWaitTrackerTest, FlagsNeverChangeTheFirstSeenTime) {
  constexpr int64_t kLatest = (int64_t{1} << 62) - 1;
  constexpr int64_t kBit61 = int64_t{1} << 61;
  CloseWaitTracker tracker(100);
  tracker.Begin();
  EXPECT_EQ(tracker.Observe(1, kLatest), kLatest);
  EXPECT_EQ(tracker.Observe(2, kBit61), kBit61);
  EXPECT_EQ(tracker.Observe(3, 0), 0);
  tracker.Commit();
  for (int poll = 0; poll < 3; ++poll) {  // committed and observed in turn
    tracker.Begin();
    EXPECT_EQ(tracker.Observe(1, kLatest), kLatest);
    EXPECT_EQ(tracker.Observe(2, kLatest), kBit61);
    EXPECT_EQ(tracker.Observe(3, kLatest), 0);
    EXPECT_EQ(tracker.Observe(3, kLatest), 0);  // twice in one dump
    tracker.Commit();
  }
  EXPECT_EQ(tracker.tracked(), 3u);
  tracker.Begin();
  EXPECT_EQ(tracker.Observe(2, 5), kBit61);
  tracker.Begin();  // the attempt is abandoned: 2 keeps its committed age
  EXPECT_EQ(tracker.Observe(2, 6), kBit61);
  tracker.Commit();
  EXPECT_EQ(tracker.tracked(), 1u);
}

TEST(CloseWaitTrackerTest, AbandonedAttemptLeavesNoTrace) {
  CloseWaitTracker tracker(100);
  tracker.Begin();
  tracker.Observe(1, 0);
  tracker.Commit();
  tracker.Begin();
  EXPECT_EQ(tracker.Observe(1, 10), 0);
  EXPECT_EQ(tracker.Observe(2, 10), 10);  // only seen by the failed attempt
  tracker.Begin();                        // retry
  EXPECT_EQ(tracker.Observe(2, 20), 20);
  EXPECT_EQ(tracker.Observe(1, 20), 0);
  tracker.Commit();
  EXPECT_EQ(tracker.tracked(), 2u);
  tracker.Begin();  // a failed poll: the last committed one stays
  tracker.Observe(3, 30);
  tracker.Begin();
  EXPECT_EQ(tracker.tracked(), 2u);
  EXPECT_EQ(tracker.Observe(1, 40), 0);
}

TEST(CloseWaitTrackerTest, CapCountsUntrackedSockets) {
  CloseWaitTracker tracker(2);
  tracker.Begin();
  tracker.Observe(1, 0);
  tracker.Observe(2, 0);
  EXPECT_EQ(tracker.Observe(3, 0), 0);
  EXPECT_EQ(tracker.untracked(), 1u);
  tracker.Commit();
  EXPECT_EQ(tracker.tracked(), 2u);
  tracker.Begin();
  EXPECT_EQ(tracker.Observe(3, 5), 5);  // was not tracked: new again
  EXPECT_EQ(tracker.untracked(), 0u);   // reset by the new poll
  EXPECT_EQ(tracker.Observe(1, 5), 0);
  EXPECT_EQ(tracker.Observe(2, 5), 0);  // over the cap: age still known
  EXPECT_EQ(tracker.untracked(), 1u);
  tracker.Commit();
  EXPECT_EQ(tracker.tracked(), 2u);
}

// Random polls (successful, abandoned and retried, cap changes) against the
// reference, with a fixed seed: every Observe answer and every counter equal.
TEST(CloseWaitTrackerTest, SameAnswersAsTheUnorderedMapTracker) {
  std::mt19937_64 rng(6);
  CloseWaitTracker tracker(300);
  ReferenceTracker reference(300);
  int64_t now = 1'000'000;
  for (int poll = 0; poll < 400; ++poll) {
    if (poll % 50 == 49) {
      const auto cap = static_cast<uint32_t>(rng() % 2 == 0 ? rng() % 400 : 1'000'000);
      tracker.set_max_tracked(cap);
      reference.set_max_tracked(cap);
    }
    const int attempts = rng() % 5 == 0 ? 2 : 1;
    for (int attempt = 0; attempt < attempts; ++attempt) {
      tracker.Begin();
      reference.Begin();
      now += 15'000;
      // Sockets come and go; poll 200-260 is a spike, then nearly nothing.
      const uint64_t range = poll >= 200 && poll < 260 ? 20'000 : poll >= 260 ? 40 : 600;
      const int sockets = static_cast<int>(rng() % (range / 2 + 1));
      for (int i = 0; i < sockets; ++i) {
        const uint64_t cookie = rng() % range;  // includes 0
        ASSERT_EQ(tracker.Observe(cookie, now), reference.Observe(cookie, now))
            << "poll " << poll << " cookie " << cookie;
        ASSERT_EQ(tracker.untracked(), reference.untracked()) << poll;
      }
    }
    if (rng() % 7 == 0) {
      tracker.Begin();  // the whole poll failed
      reference.Begin();
    } else {
      tracker.Commit();
      reference.Commit();
    }
    ASSERT_EQ(tracker.tracked(), reference.tracked()) << poll;
    ASSERT_EQ(tracker.untracked(), reference.untracked()) << poll;
  }
}

}  // namespace
}  // namespace tcpstate
