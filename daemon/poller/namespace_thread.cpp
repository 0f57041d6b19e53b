#include "poller/namespace_thread.h"

#include <fcntl.h>
#include <pthread.h>

#include "netns/netns_discovery.h"

namespace tcpstate {

NamespaceThread::NamespaceThread()
    : home_(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)),
      thread_([this] { Loop(); }) {}

NamespaceThread::~NamespaceThread() {
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void NamespaceThread::Loop() {
  // Named so that its CPU time can be told apart (bench/pods.py, top -H).
  pthread_setname_np(pthread_self(), "tcpstate-netns");
  std::unique_lock lock(mutex_);
  while (true) {
    cv_.wait(lock, [this] { return quit_ || task_ != nullptr; });
    if (quit_) return;
    const std::function<void()>* task = task_;
    lock.unlock();
    (*task)();
    lock.lock();
    task_ = nullptr;
    done_ = true;
    cv_.notify_all();
  }
}

Status NamespaceThread::RunIn(const UniqueFd& netns, const std::function<void()>& task) {
  Status entered = OkStatus();
  const std::function<void()> wrapped = [&] {
    entered = EnterNetns(netns);
    if (entered.ok()) task();
  };
  std::unique_lock lock(mutex_);
  task_ = &wrapped;
  done_ = false;
  cv_.notify_all();
  cv_.wait(lock, [this] { return done_; });
  return entered;
}

void NamespaceThread::ReturnHome() {
  if (!home_.valid()) return;
  (void)RunIn(home_, [] {});
}

}  // namespace tcpstate
