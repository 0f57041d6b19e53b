#include "aggregate/close_wait_tracker.h"

namespace tcpstate {

int64_t CloseWaitTracker::Observe(uint64_t cookie, int64_t now_ms) {
  if (current_.empty()) untracked_ = 0;
  if (auto it = current_.find(cookie); it != current_.end()) return it->second;
  int64_t first_seen = now_ms;
  if (auto it = previous_.find(cookie); it != previous_.end()) {
    first_seen = it->second;
  }
  if (current_.size() < max_tracked_) {
    current_.emplace(cookie, first_seen);
  } else {
    ++untracked_;
  }
  return first_seen;
}

}  // namespace tcpstate
