// Metric families to publish in tests of metrics/snapshot_collectable.h and
// of the /metrics endpoint.
#pragma once

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <memory>
#include <sstream>
#include <string>

#include "metrics/snapshot_collectable.h"

namespace tcpstate::testing {

// Families with `n` series of one gauge: a realistic, compressible text.
inline std::shared_ptr<const SnapshotCollectable::Families> Families(int n) {
  prometheus::MetricFamily family;
  family.name = "tcpstate_port_sockets";
  family.help = "Sockets per state by the port they concern.";
  family.type = prometheus::MetricType::Gauge;
  for (int i = 0; i < n; ++i) {
    prometheus::ClientMetric metric;
    metric.label = {
        {"direction", "inbound"}, {"port", std::to_string(20000 + i)}, {"state", "established"}};
    metric.gauge.value = i % 7;
    family.metric.push_back(std::move(metric));
  }
  return std::make_shared<const SnapshotCollectable::Families>(
      SnapshotCollectable::Families{std::move(family)});
}

inline std::string Serialize(const SnapshotCollectable::Families& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace tcpstate::testing
