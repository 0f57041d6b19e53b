// The one seam between data and presentation: /metrics asks this
// Collectable, which hands out the families rendered once per poll. A scrape
// never triggers a dump and never waits for one.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <mutex>
#include <vector>

namespace tcpstate {

class SnapshotCollectable : public prometheus::Collectable {
 public:
  using Families = std::vector<prometheus::MetricFamily>;

  void Publish(std::shared_ptr<const Families> families) {
    std::lock_guard lock(mutex_);
    latest_ = std::move(families);
  }

  std::shared_ptr<const Families> Latest() const {
    std::lock_guard lock(mutex_);
    return latest_;
  }

  Families Collect() const override {
    auto latest = Latest();
    return latest ? *latest : Families{};
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Families> latest_;
};

}  // namespace tcpstate
