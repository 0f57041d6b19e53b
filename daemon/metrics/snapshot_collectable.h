// The one seam between data and presentation: /metrics asks this
// Collectable, which hands out the families rendered once per poll. A scrape
// never triggers a dump and never waits for one. The text exposition of each
// published snapshot is also serialized once, by the poller, so that a scrape
// costs a copy, not a render, however many scrapers there are.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tcpstate {

// A Collectable whose text exposition is already serialized.
class PrerenderedExposition {
 public:
  virtual ~PrerenderedExposition() = default;
  // Null until something was published.
  virtual std::shared_ptr<const std::string> Text() const = 0;
};

class SnapshotCollectable : public prometheus::Collectable, public PrerenderedExposition {
 public:
  using Families = std::vector<prometheus::MetricFamily>;

  void Publish(std::shared_ptr<const Families> families);

  std::shared_ptr<const Families> Latest() const {
    std::lock_guard lock(mutex_);
    return latest_;
  }

  std::shared_ptr<const std::string> Text() const override {
    std::lock_guard lock(mutex_);
    return text_;
  }

  Families Collect() const override {
    auto latest = Latest();
    return latest ? *latest : Families{};
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Families> latest_;
  std::shared_ptr<const std::string> text_;
};

}  // namespace tcpstate
