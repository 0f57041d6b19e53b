#include "metrics/process_collector.h"

#include <string>
#include <utility>

namespace tcpstate {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Single(std::string name, std::string help, MetricType type, double value) {
  ClientMetric metric;
  if (type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return MetricFamily{std::move(name), std::move(help), type, {std::move(metric)}};
}

}  // namespace

std::vector<MetricFamily> RenderProcessStats(const ProcessStats& stats) {
  std::vector<MetricFamily> families;
  families.push_back(Single("process_cpu_seconds_total",
                            "Total user and system CPU time spent in seconds.", MetricType::Counter,
                            stats.cpu_seconds));
  if (stats.open_fds) {
    families.push_back(Single("process_open_fds", "Number of open file descriptors.",
                              MetricType::Gauge, *stats.open_fds));
  }
  if (stats.max_fds) {
    families.push_back(Single("process_max_fds", "Maximum number of open file descriptors.",
                              MetricType::Gauge, *stats.max_fds));
  }
  families.push_back(Single("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                            MetricType::Gauge, stats.virtual_bytes));
  families.push_back(Single("process_resident_memory_bytes", "Resident memory size in bytes.",
                            MetricType::Gauge, stats.resident_bytes));
  families.push_back(Single("process_start_time_seconds",
                            "Start time of the process since unix epoch in seconds.",
                            MetricType::Gauge, stats.start_time_seconds));
  return families;
}

std::vector<MetricFamily> ProcessCollector::Collect() const {
  auto stats = ReadSelfProcessStats();
  if (!stats.ok()) return {};
  return RenderProcessStats(*stats);
}

}  // namespace tcpstate
