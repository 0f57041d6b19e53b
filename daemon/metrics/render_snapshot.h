// Snapshot -> metric families. Every metric name and help text lives here;
// docs/metrics.md documents the same set.
#pragma once

#include <prometheus/metric_family.h>

#include <vector>

#include "snapshot/snapshot.h"

namespace tcpstate {

std::vector<prometheus::MetricFamily> RenderSnapshot(const Snapshot& snapshot);

}  // namespace tcpstate
