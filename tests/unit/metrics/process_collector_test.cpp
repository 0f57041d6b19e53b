// The process_* families with the standard names (metrics/process_collector.h)
// and their place in every publish.
#include "metrics/process_collector.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <memory>
#include <sstream>
#include <string>

#include "metrics/snapshot_collectable.h"

namespace tcpstate {
namespace {
std::string Text(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

TEST(RenderProcessStats, StandardNamesTypesAndHelp) {
  ProcessStats stats;
  stats.cpu_seconds = 3;
  stats.resident_bytes = 8388608;
  stats.virtual_bytes = 10485760;
  stats.start_time_seconds = 1764771234.5;
  stats.open_fds = 12;
  stats.max_fds = 1024;
  const std::string text = Text(RenderProcessStats(stats));
  for (const char* expected : {
           "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
           "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3\n",
           "# HELP process_open_fds Number of open file descriptors.\n"
           "# TYPE process_open_fds gauge\nprocess_open_fds 12\n",
           "# HELP process_max_fds Maximum number of open file descriptors.\n"
           "# TYPE process_max_fds gauge\nprocess_max_fds 1024\n",
           "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
           "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes 10485760\n",
           "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
           "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 8388608\n",
           "# HELP process_start_time_seconds Start time of the process since unix epoch in "
           "seconds.\n# TYPE process_start_time_seconds gauge\n",
       }) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\nin:\n" << text;
  }
  // Unknown descriptor counts are left out, not reported as 0.
  stats.open_fds.reset();
  stats.max_fds.reset();
  const std::string without = Text(RenderProcessStats(stats));
  EXPECT_EQ(without.find("process_open_fds"), std::string::npos);
  EXPECT_EQ(without.find("process_max_fds"), std::string::npos);
}

TEST(ProcessCollector, AppendedToEveryPublish) {
  auto collectable = std::make_shared<SnapshotCollectable>(
      std::vector<std::shared_ptr<const prometheus::Collectable>>{
          std::make_shared<const ProcessCollector>()});
  collectable->Publish(std::make_shared<const Snapshot>());
  const auto prepared = collectable->Prepared();
  ASSERT_TRUE(prepared);
  for (const char* name :
       {"process_cpu_seconds_total", "process_resident_memory_bytes",
        "process_virtual_memory_bytes", "process_open_fds", "process_start_time_seconds"}) {
    EXPECT_NE(prepared->text.find(std::string("\n") + name + " "), std::string::npos) << name;
  }
  // The snapshot's own families are still there.
  EXPECT_NE(prepared->text.find("tcpstate_"), std::string::npos);
}

}  // namespace
}  // namespace tcpstate
