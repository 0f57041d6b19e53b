// metrics/render_snapshot: a Snapshot in, metric families out. Built by hand,
// so each test says exactly which series a piece of data must produce.
#include "metrics/render_snapshot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/tcp_state.h"

namespace tcpstate {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::map<std::string, std::string>;

const MetricFamily* Find(const std::vector<MetricFamily>& families, const std::string& name) {
  for (const auto& family : families) {
    if (family.name == name) return &family;
  }
  return nullptr;
}

// Every series of `name` as (labels, value).
std::vector<std::pair<Labels, double>> Series(const std::vector<MetricFamily>& families,
                                              const std::string& name) {
  std::vector<std::pair<Labels, double>> out;
  const MetricFamily* family = Find(families, name);
  if (family == nullptr) return out;
  for (const auto& metric : family->metric) {
    Labels labels;
    for (const auto& label : metric.label) labels[label.name] = label.value;
    const double value =
        family->type == MetricType::Counter ? metric.counter.value : metric.gauge.value;
    out.emplace_back(std::move(labels), value);
  }
  return out;
}

Snapshot OneTarget() {
  Snapshot snapshot;
  TargetData target;
  target.labels = {{"netns", "4026532000"}, {"pod_uid", "u-1"}, {"pod_name", "billing-0"}};
  auto table = std::make_shared<SocketTable>();
  table->by_state[kCloseWait] = 3;
  table->by_state[kEstablished] = 7;
  table->total = 10;
  table->close_wait.push_back(
      {"billing", "", Direction::kOutbound, "443", CloseWaitCause::kNotReading, 3, 2400, {}});
  table->listeners.push_back({"8443", 1, 128, 9, 2});
  target.sockets = table;
  auto kernel = std::make_shared<KernelSettings>();
  kernel->values.push_back({Sysctl::kTcpMaxTwBuckets, 262144});
  kernel->values.push_back({Sysctl::kTcpEhashEntries, -1024});
  target.kernel = kernel;
  target.tcpext = std::make_shared<const std::vector<TcpExtCounter>>(
      std::vector<TcpExtCounter>{{TcpExtField::kTCPTimeWaitOverflow, 5}});
  snapshot.targets.push_back(target);
  return snapshot;
}

TEST(RenderSnapshot, TargetLabelsGoOnEverySeriesOfTheTarget) {
  const auto families = RenderSnapshot(OneTarget());
  const auto sockets = Series(families, "tcpstate_sockets");
  ASSERT_FALSE(sockets.empty());
  bool close_wait = false;
  for (const auto& [labels, value] : sockets) {
    EXPECT_EQ(labels.at("netns"), "4026532000");
    EXPECT_EQ(labels.at("pod_name"), "billing-0");
    if (labels.at("state") == "close_wait") {
      close_wait = true;
      EXPECT_EQ(value, 3);
    }
  }
  EXPECT_TRUE(close_wait);
  const auto oldest = Series(families, "tcpstate_close_wait_oldest_age_seconds");
  ASSERT_EQ(oldest.size(), 1u);
  EXPECT_EQ(oldest[0].first.at("process"), "billing");
  EXPECT_EQ(oldest[0].first.at("port"), "443");
  EXPECT_EQ(oldest[0].first.at("pod_uid"), "u-1");
  EXPECT_EQ(oldest[0].first.at("cause"), "not_reading");
  EXPECT_EQ(oldest[0].second, 2400);
  // Self-metrics carry no target labels.
  for (const auto& [labels, value] : Series(families, "tcpstate_polls_total")) {
    EXPECT_FALSE(labels.contains("netns"));
  }
}

TEST(RenderSnapshot, ListenerDropsAreACounterPerPort) {
  const auto families = RenderSnapshot(OneTarget());
  const MetricFamily* drops = Find(families, "tcpstate_listen_drops_total");
  ASSERT_NE(drops, nullptr);
  EXPECT_EQ(drops->type, MetricType::Counter);
  const auto series = Series(families, "tcpstate_listen_drops_total");
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].first.at("port"), "8443");
  EXPECT_EQ(series[0].second, 9);
  const auto syn = Series(families, "tcpstate_listen_syn_recv_sockets");
  ASSERT_EQ(syn.size(), 1u);
  EXPECT_EQ(syn[0].second, 2);
}

TEST(RenderSnapshot, KernelValuesAreNamedInMetrics) {
  const auto families = RenderSnapshot(OneTarget());
  const auto buckets = Series(families, "tcpstate_kernel_tcp_max_tw_buckets");
  ASSERT_EQ(buckets.size(), 1u);
  EXPECT_EQ(buckets[0].second, 262144);
  const MetricFamily* family = Find(families, "tcpstate_kernel_tcp_max_tw_buckets");
  EXPECT_NE(family->help.find("tcp_max_tw_buckets"), std::string::npos);
  // A shared established hash (negative size) is flagged.
  const auto own = Series(families, "tcpstate_netns_own_socket_hash");
  ASSERT_EQ(own.size(), 1u);
  EXPECT_EQ(own[0].second, 0);
  const auto overflow = Series(families, "tcpstate_tcpext_time_wait_overflow_total");
  ASSERT_EQ(overflow.size(), 1u);
  EXPECT_EQ(overflow[0].second, 5);
  EXPECT_EQ(Find(families, "tcpstate_kernel_somaxconn"), nullptr);  // not read: no series
}

// Open fds and limits per process (the limit only when known) and the snmp Tcp
// counters, all with the target's labels.
TEST(RenderSnapshot, ProcessFdsAndSnmpCountersPerTarget) {
  Snapshot snapshot = OneTarget();
  auto table = std::make_shared<SocketTable>(*snapshot.targets[0].sockets);
  table->processes_enabled = true;
  table->pid_label = true;
  table->process_fds = {{"billing", "42", 900, 1024}, {"nolimit", "43", 7, -1}};
  snapshot.targets[0].sockets = table;
  snapshot.targets[0].snmp_tcp = std::make_shared<const std::vector<SnmpTcpCounter>>(
      std::vector<SnmpTcpCounter>{{SnmpTcpField::kActiveOpens, 2331}, {SnmpTcpField::kOutRsts, 9}});
  const auto families = RenderSnapshot(snapshot);
  const auto open = Series(families, "tcpstate_process_open_fds");
  ASSERT_EQ(open.size(), 2u);
  EXPECT_EQ(open[0].first, (Labels{{"netns", "4026532000"},
                                   {"pod_uid", "u-1"},
                                   {"pod_name", "billing-0"},
                                   {"process", "billing"},
                                   {"pid", "42"}}));
  EXPECT_EQ(open[0].second, 900);
  EXPECT_EQ(open[1].second, 7);
  const auto max = Series(families, "tcpstate_process_max_fds");
  ASSERT_EQ(max.size(), 1u);
  EXPECT_EQ(max[0].first.at("process"), "billing");
  EXPECT_EQ(max[0].second, 1024);
  const auto active = Series(families, "tcpstate_tcp_active_opens_total");
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].first.at("netns"), "4026532000");
  EXPECT_EQ(active[0].second, 2331);
  EXPECT_EQ(Find(families, "tcpstate_tcp_active_opens_total")->type, MetricType::Counter);
  EXPECT_EQ(Series(families, "tcpstate_tcp_out_resets_total")[0].second, 9);
  EXPECT_EQ(Find(families, "tcpstate_tcp_in_errors_total"), nullptr);  // not read: no series
}

TEST(RenderSnapshot, SourcesAndNetlinkErrorsComeFromTheirEnums) {
  Snapshot snapshot;
  snapshot.self.sources[static_cast<size_t>(Source::kSockDiag)] = SourceStatus{false, 0.25};
  snapshot.self.sources[static_cast<size_t>(Source::kSysctl)] = SourceStatus{true, 0.01};
  snapshot.self.netlink_errors[static_cast<size_t>(ReadFailure::kDoneError)] = 2;
  snapshot.self.netlink_errors[static_cast<size_t>(ReadFailure::kDeadline)] = 9;
  const auto families = RenderSnapshot(snapshot);

  std::map<std::string, double> up;
  for (const auto& [labels, value] : Series(families, "tcpstate_source_up")) {
    up[labels.at("source")] = value;
  }
  EXPECT_EQ(up, (std::map<std::string, double>{{"sock_diag", 0}, {"sysctl", 1}}));  // off: absent

  std::vector<std::string> reasons;
  for (const auto& [labels, value] : Series(families, "tcpstate_netlink_errors_total")) {
    reasons.push_back(labels.at("reason"));
    EXPECT_EQ(value, labels.at("reason") == "done_error" ? 2 : 0) << labels.at("reason");
  }
  // Every kernel or socket failure, sorted; cancelled and deadline are not.
  EXPECT_EQ(reasons,
            (std::vector<std::string>{"done_error", "interrupted", "malformed", "nlmsg_error",
                                      "recv", "send", "sequence", "socket", "truncated"}));
}

TEST(RenderSnapshot, ReloadFailureInfoOnlyWhileTheLastReloadFailed) {
  Snapshot snapshot;
  EXPECT_EQ(Find(RenderSnapshot(snapshot), "tcpstate_config_last_reload_failure_info"), nullptr);
  snapshot.self.config_reload.last_successful = false;
  snapshot.self.config_reload.failure = {ReloadFile::kConfig, ReloadFailureReason::kInvalid,
                                         "poll.interval"};
  const auto info = Series(RenderSnapshot(snapshot), "tcpstate_config_last_reload_failure_info");
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(info[0].first,
            (Labels{{"file", "config"}, {"reason", "invalid"}, {"key", "poll.interval"}}));
}

TEST(RenderSnapshot, StaleTargetSaysSo) {
  Snapshot snapshot = OneTarget();
  snapshot.targets[0].stale = true;
  const auto stale = Series(RenderSnapshot(snapshot), "tcpstate_netns_stale");
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_EQ(stale[0].second, 1);
}

}  // namespace
}  // namespace tcpstate
