#include "aggregate/close_wait_tracker.h"

namespace tcpstate {

void CloseWaitTracker::Begin() {
  if (observed_ == 0) return;  // nothing to undo
  entries_.EraseIf([](uint64_t, Entry& entry) {
    entry.set_observed(false);
    return !entry.committed();
  });
  observed_ = 0;
}

int64_t CloseWaitTracker::Observe(uint64_t cookie, int64_t now_ms) {
  if (observed_ == 0) untracked_ = 0;
  if (observed_ < max_tracked_) {
    auto [entry, inserted] = entries_.TryEmplace(cookie, Entry::FirstSeen(now_ms));
    if (inserted) {
      ++observed_;
    } else if (!entry->observed()) {
      entry->set_observed(true);  // committed by the previous poll: keeps its age
      ++observed_;
    }
    return entry->first_seen_ms();
  }
  const Entry* entry = entries_.Find(cookie);
  if (entry != nullptr && entry->observed()) return entry->first_seen_ms();
  ++untracked_;
  return entry != nullptr ? entry->first_seen_ms() : now_ms;
}

void CloseWaitTracker::Commit() {
  // Also shrinks the table when most sockets left CLOSE_WAIT.
  entries_.EraseIf([](uint64_t, Entry& entry) {
    if (!entry.observed()) return true;
    entry.set_committed();
    entry.set_observed(false);
    return false;
  });
  tracked_ = observed_;
  observed_ = 0;
}

}  // namespace tcpstate
