// One long-lived thread that runs tasks one at a time, each after entering a
// network namespace: setns changes only the calling thread, so the poll
// thread itself never leaves its own namespace. Reusing one thread instead of
// starting one per namespace saves a thread start and teardown per pod and
// poll (a measurable part of an idle pod's cost).
//
// Thread-safe for one caller at a time (the poll thread).
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "common/result.h"
#include "common/unique_fd.h"

namespace tcpstate {

class NamespaceThread {
 public:
  NamespaceThread();
  ~NamespaceThread();
  NamespaceThread(const NamespaceThread&) = delete;
  NamespaceThread& operator=(const NamespaceThread&) = delete;

  // Enters `netns` on the thread, runs `task` there if that worked, and
  // returns the outcome of the setns. Blocks until the task has returned.
  Status RunIn(const UniqueFd& netns, const std::function<void()>& task);
  // Moves the thread back into the namespace it started in, so that it does
  // not keep a deleted pod's namespace alive until the next poll.
  void ReturnHome();

 private:
  void Loop();

  std::mutex mutex_;
  std::condition_variable cv_;
  const std::function<void()>* task_ = nullptr;  // guarded by mutex_
  bool done_ = false;                            // guarded by mutex_
  bool quit_ = false;                            // guarded by mutex_
  UniqueFd home_;
  std::thread thread_;
};

}  // namespace tcpstate
