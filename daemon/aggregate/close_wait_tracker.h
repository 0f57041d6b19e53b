// Follows CLOSE_WAIT sockets across polls by inet_diag cookie, so the age of
// a leak can be measured. A socket's age counts from the first poll that saw
// it in CLOSE_WAIT (a lower bound, exact to one poll interval).
//
// Thread-safety: not thread-safe; used by one thread at a time (the reader
// of its namespace, then the poll thread), handed over by the poller.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/flat_hash_map.h"

namespace tcpstate {

class CloseWaitTracker {
 public:
  explicit CloseWaitTracker(uint32_t max_tracked) : max_tracked_(max_tracked) {}

  void set_max_tracked(uint32_t max_tracked) { max_tracked_ = max_tracked; }

  // Starts a poll attempt; anything observed by an abandoned one is dropped.
  void Begin();

  // Returns when the socket was first seen in CLOSE_WAIT (ms, monotonic).
  int64_t Observe(uint64_t cookie, int64_t now_ms);

  // Keeps what this poll saw and forgets sockets that left CLOSE_WAIT.
  void Commit();

  // Sockets kept by the latest committed poll.
  size_t tracked() const { return tracked_; }
  // Sockets not tracked in the latest poll because of max_tracked.
  uint64_t untracked() const { return untracked_; }

 private:
  // One table for the latest committed poll and the attempt under way (a
  // socket usually sits in both): 16 bytes a slot with its cookie, so 250,000
  // tracked sockets take 8 MiB (2^19 slots) where a 24-byte slot took 12.
  // The monotonic clock's milliseconds fit in 62 bits (146 million years), so
  // the two flags take the top bits of the first-seen time.
  struct Entry {
    uint64_t word = 0;

    static constexpr uint64_t kCommitted = uint64_t{1} << 63;  // seen by the latest committed poll
    static constexpr uint64_t kObserved = uint64_t{1} << 62;   // observed, kept by the attempt
    static constexpr uint64_t kTimeMask = kObserved - 1;

    static Entry FirstSeen(int64_t now_ms) {
      return Entry{(static_cast<uint64_t>(now_ms) & kTimeMask) | kObserved};
    }
    int64_t first_seen_ms() const { return static_cast<int64_t>(word & kTimeMask); }
    bool committed() const { return (word & kCommitted) != 0; }
    bool observed() const { return (word & kObserved) != 0; }
    void set_observed(bool on) { word = on ? word | kObserved : word & ~kObserved; }
    void set_committed() { word |= kCommitted; }
  };
  static_assert(sizeof(FlatHashMap<uint64_t, Entry>::Slot) == 16);

  uint32_t max_tracked_;
  uint64_t untracked_ = 0;
  size_t tracked_ = 0;   // entries with `committed`
  size_t observed_ = 0;  // entries with `observed`, at most max_tracked_
  FlatHashMap<uint64_t, Entry> entries_;
};

}  // namespace tcpstate
