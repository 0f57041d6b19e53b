// The one seam between data and presentation. The poller publishes each
// snapshot here (SnapshotSink); it is rendered into metric families once and
// its text exposition serialized and gzip-compressed once, into an immutable
// buffer that scrapes write from directly (ExpositionSource): a scrape never
// triggers a dump, never waits for one, and costs neither a render nor a
// copy, however many scrapers there are. Collect() (prometheus-cpp's
// Collectable) hands out the same families, for --once and tests.
//
// Thread-safety: every member may be called from any thread; the lock only
// guards the pointers, never a render or a write.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "metrics/exposition.h"
#include "metrics/page_source.h"
#include "snapshot/snapshot_sink.h"

namespace tcpstate {

class SnapshotCollectable : public prometheus::Collectable,
                            public SnapshotSink,
                            public ExpositionSource,
                            public PageSource {
 public:
  using Families = std::vector<prometheus::MetricFamily>;

  SnapshotCollectable() = default;
  explicit SnapshotCollectable(std::vector<std::shared_ptr<const prometheus::Collectable>> extra)
      : extra_(std::move(extra)) {}

  // Renders `snapshot` (metrics/render_snapshot.h), appends the extra
  // collectables' families and publishes the result.
  void Publish(std::shared_ptr<const Snapshot> snapshot) override;

  // Publishes families rendered elsewhere (tests, benchmarks).
  void PublishFamilies(std::shared_ptr<const Families> families);

  std::shared_ptr<const Families> Latest() const {
    std::lock_guard lock(mutex_);
    return latest_;
  }

  std::shared_ptr<const Exposition> Prepared() const override {
    std::lock_guard lock(mutex_);
    return prepared_;
  }

  // The drill-down pages (metrics/detail_pages.h), rendered on request from
  // the latest published snapshot. Off: 404. Set at start and on reload.
  void SetPageOptions(bool enabled, uint32_t top);
  std::optional<Page> RenderPage(std::string_view path, std::string_view query) const override;
  std::string LandingSummary() const override;

  Families Collect() const override {
    auto latest = Latest();
    return latest ? *latest : Families{};
  }

 private:
  const std::vector<std::shared_ptr<const prometheus::Collectable>> extra_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Families> latest_;
  std::shared_ptr<const Exposition> prepared_;
  std::shared_ptr<const Snapshot> snapshot_;
  bool pages_enabled_ = true;
  uint32_t pages_top_ = 50;
};

}  // namespace tcpstate
