// The one seam between data and presentation: /metrics asks this
// Collectable, which hands out the families rendered once per poll. A scrape
// never triggers a dump and never waits for one. The text exposition of each
// published snapshot is also serialized and gzip-compressed once, by the
// poller, into an immutable buffer that scrapes write from directly: a scrape
// costs neither a render nor a copy, however many scrapers there are.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tcpstate {

// One published exposition; never changed once published.
struct Exposition {
  std::string text;  // text format 0.0.4
  std::string gzip;  // the same text gzip-compressed; empty if compression failed
};

class SnapshotCollectable : public prometheus::Collectable {
 public:
  using Families = std::vector<prometheus::MetricFamily>;

  void Publish(std::shared_ptr<const Families> families);

  std::shared_ptr<const Families> Latest() const {
    std::lock_guard lock(mutex_);
    return latest_;
  }

  // Null until something was published. The lock only guards the pointer: a
  // scrape holds its own reference while it writes, and a concurrent Publish
  // does not wait for it.
  std::shared_ptr<const Exposition> Prepared() const {
    std::lock_guard lock(mutex_);
    return prepared_;
  }

  Families Collect() const override {
    auto latest = Latest();
    return latest ? *latest : Families{};
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Families> latest_;
  std::shared_ptr<const Exposition> prepared_;
};

}  // namespace tcpstate
