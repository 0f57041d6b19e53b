// The process_* metrics every Prometheus client library exports, with the
// standard names and help texts (the Go client's process collector):
// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds. prometheus-cpp 1.x has no process collector.
//
// Sampled when collected: SnapshotCollectable collects it at every publish
// (each poll), so /metrics shows the values of the latest poll, like every
// other series, and a scrape still costs no render (metrics/exposition.h).
//
// Thread-safety: Collect may be called from any thread; it holds no state.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

#include "procfs/self_stats.h"

namespace tcpstate {

// The families for `stats`; open_fds and max_fds only when known.
std::vector<prometheus::MetricFamily> RenderProcessStats(const ProcessStats& stats);

class ProcessCollector : public prometheus::Collectable {
 public:
  // Reads the exporter's own /proc/self; nothing when that fails.
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace tcpstate
