// Follows CLOSE_WAIT sockets across polls by inet_diag cookie, so the age of
// a leak can be measured. A socket's age counts from the first poll that saw
// it in CLOSE_WAIT (a lower bound, exact to one poll interval).
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>

namespace tcpstate {

class CloseWaitTracker {
 public:
  explicit CloseWaitTracker(uint32_t max_tracked) : max_tracked_(max_tracked) {}

  void set_max_tracked(uint32_t max_tracked) { max_tracked_ = max_tracked; }

  // Starts a poll attempt; anything observed by an abandoned one is dropped.
  void Begin() { current_.clear(); }

  // Returns when the socket was first seen in CLOSE_WAIT (ms, monotonic).
  int64_t Observe(uint64_t cookie, int64_t now_ms);

  // Keeps what this poll saw and forgets sockets that left CLOSE_WAIT.
  void Commit() {
    previous_.swap(current_);
    current_.clear();
  }

  size_t tracked() const { return previous_.size(); }
  // Sockets not tracked in the latest poll because of max_tracked.
  uint64_t untracked() const { return untracked_; }

 private:
  uint32_t max_tracked_;
  uint64_t untracked_ = 0;
  std::unordered_map<uint64_t, int64_t> previous_;
  std::unordered_map<uint64_t, int64_t> current_;
};

}  // namespace tcpstate
