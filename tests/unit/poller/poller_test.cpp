#include "poller/poller.h"

#include <gtest/gtest.h>

#include "common/tcp_state.h"
#include "metrics/snapshot_collectable.h"
#include "support/fake_proc.h"
#include "support/scripted_transport.h"

namespace tcpstate {
namespace {

using testing::DiagMessage;
using testing::DoneMessage;
using testing::kScriptedPortId;
using testing::ScriptedFactory;
using testing::SocketSpec;
using testing::Step;

// Value of the series `name` whose labels include every pair in `labels`;
// NaN when absent.
double Value(const SnapshotCollectable& c, const std::string& name,
             std::vector<std::pair<std::string, std::string>> labels = {}) {
  for (const auto& family : c.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        bool found = false;
        for (const auto& l : metric.label) found |= l.name == k && l.value == v;
        match &= found;
      }
      if (!match) continue;
      return family.type == prometheus::MetricType::Counter ? metric.counter.value
                                                            : metric.gauge.value;
    }
  }
  return std::nan("");
}

testing::Script CloseWaitTable(int close_wait) {
  return [close_wait](uint8_t family, uint32_t states, uint32_t seq) {
    testing::Bytes datagram;
    if ((family == AF_INET || family == AF_UNSPEC) && !(states & StateBit(kListen))) {
      for (int i = 0; i < close_wait; ++i) {
        SocketSpec s;
        s.state = kCloseWait;
        s.local_port = static_cast<uint16_t>(40000 + i);
        s.remote_port = 443;
        s.inode = static_cast<uint32_t>(9000 + i);
        s.cookie = static_cast<uint64_t>(i + 1);
        auto m = DiagMessage(seq, kScriptedPortId, s);
        datagram.insert(datagram.end(), m.begin(), m.end());
      }
    }
    auto done = DoneMessage(seq, kScriptedPortId);
    datagram.insert(datagram.end(), done.begin(), done.end());
    return std::vector<Step>{{datagram}};
  };
}

class PollerTest : public ::testing::Test {
 protected:
  PollerTest() {
    proc.AddProcess(321, "leaky", 5);
    for (int i = 0; i < 3; ++i) proc.AddSocketFd(321, 10 + i, 9000 + i);
    proc.Write("sys/net/ipv4/tcp_max_tw_buckets", "4096\n");
    proc.Write("net/netstat", "TcpExt: TW TCPTimeWaitOverflow\nTcpExt: 5 1\n");
    proc.Write("net/snmp", "Tcp: MaxConn ActiveOpens OutRsts\nTcp: -1 40 3\n");
    config.proc_root = proc.root();
  }
  testing::FakeProc proc;
  Config config;
  SnapshotCollectable out;
};

TEST_F(PollerTest, PublishesCountsAttributionAndKernelData) {
  auto factory = std::make_unique<ScriptedFactory>(CloseWaitTable(3));
  Poller poller(config, std::move(factory), out);
  ASSERT_TRUE(poller.PollOnce());
  EXPECT_EQ(Value(out, "tcpstate_sockets", {{"state", "close_wait"}}), 3);
  EXPECT_EQ(Value(out, "tcpstate_close_wait_sockets",
                  {{"process", "leaky"}, {"port", "443"}, {"direction", "outbound"}}),
            3);
  EXPECT_EQ(Value(out, "tcpstate_kernel_tcp_max_tw_buckets"), 4096);
  EXPECT_EQ(Value(out, "tcpstate_tcpext_time_wait_overflow_total"), 1);
  EXPECT_EQ(Value(out, "tcpstate_last_poll_success"), 1);
  EXPECT_EQ(Value(out, "tcpstate_source_up", {{"source", "sock_diag"}}), 1);
  EXPECT_EQ(Value(out, "tcpstate_polls_total", {{"result", "success"}}), 1);
}

TEST_F(PollerTest, FailedPollKeepsLastGoodDataAndSaysSo) {
  auto factory = std::make_unique<ScriptedFactory>(CloseWaitTable(3));
  ScriptedFactory* scripted = factory.get();
  Poller poller(config, std::move(factory), out);
  ASSERT_TRUE(poller.PollOnce());
  const double good_timestamp = Value(out, "tcpstate_last_poll_success_timestamp_seconds");

  // The next dump fails half way: an error inside NLMSG_DONE after 5 sockets.
  scripted->set_script([](uint8_t, uint32_t, uint32_t seq) {
    SocketSpec s;
    s.state = kCloseWait;
    return std::vector<Step>{{testing::Concat(
        {DiagMessage(seq, kScriptedPortId, s), DoneMessage(seq, kScriptedPortId, -EIO)})}};
  });
  EXPECT_FALSE(poller.PollOnce());
  EXPECT_EQ(Value(out, "tcpstate_sockets", {{"state", "close_wait"}}), 3);  // not 1
  EXPECT_EQ(Value(out, "tcpstate_last_poll_success"), 0);
  EXPECT_EQ(Value(out, "tcpstate_source_up", {{"source", "sock_diag"}}), 0);
  EXPECT_EQ(Value(out, "tcpstate_netlink_errors_total", {{"reason", "done_error"}}), 1);
  EXPECT_EQ(Value(out, "tcpstate_polls_total", {{"result", "failure"}}), 1);
  EXPECT_EQ(Value(out, "tcpstate_last_poll_success_timestamp_seconds"), good_timestamp);

  // Recovery on the next good poll.
  scripted->set_script(CloseWaitTable(2));
  EXPECT_TRUE(poller.PollOnce());
  EXPECT_EQ(Value(out, "tcpstate_sockets", {{"state", "close_wait"}}), 2);
  EXPECT_EQ(Value(out, "tcpstate_last_poll_success"), 1);
}

TEST_F(PollerTest, BrokenProcSourcesKeepTheirLastValues) {
  auto factory = std::make_unique<ScriptedFactory>(CloseWaitTable(1));
  Poller poller(config, std::move(factory), out);
  ASSERT_TRUE(poller.PollOnce());
  EXPECT_EQ(Value(out, "tcpstate_source_up", {{"source", "snmp"}}), 1);
  EXPECT_EQ(Value(out, "tcpstate_tcp_active_opens_total"), 40);
  proc.Write("net/netstat", "garbage\n");
  proc.Write("net/snmp", "Tcp: ActiveOpens\nTcp: -1\n");
  std::filesystem::remove(proc.root() / "sys/net/ipv4/tcp_max_tw_buckets");
  ASSERT_TRUE(poller.PollOnce());
  EXPECT_EQ(Value(out, "tcpstate_source_up", {{"source", "netstat"}}), 0);
  EXPECT_EQ(Value(out, "tcpstate_source_up", {{"source", "sysctl"}}), 0);
  EXPECT_EQ(Value(out, "tcpstate_source_up", {{"source", "snmp"}}), 0);
  EXPECT_EQ(Value(out, "tcpstate_tcpext_time_wait_overflow_total"), 1);
  EXPECT_EQ(Value(out, "tcpstate_tcp_active_opens_total"), 40);
  EXPECT_EQ(Value(out, "tcpstate_tcp_out_resets_total"), 3);
  EXPECT_EQ(Value(out, "tcpstate_kernel_tcp_max_tw_buckets"), 4096);
}

TEST_F(PollerTest, ExitedProcessLeavesNoStaleSeries) {
  auto factory = std::make_unique<ScriptedFactory>(CloseWaitTable(3));
  ScriptedFactory* scripted = factory.get();
  Poller poller(config, std::move(factory), out);
  ASSERT_TRUE(poller.PollOnce());
  EXPECT_EQ(Value(out, "tcpstate_process_sockets", {{"process", "leaky"}}), 3);
  proc.RemoveProcess(321);
  scripted->set_script(CloseWaitTable(0));
  ASSERT_TRUE(poller.PollOnce());
  EXPECT_TRUE(std::isnan(Value(out, "tcpstate_process_sockets", {{"process", "leaky"}})));
  EXPECT_TRUE(std::isnan(Value(out, "tcpstate_close_wait_sockets", {{"process", "leaky"}})));
}

TEST_F(PollerTest, ReloadedConfigAppliesAtNextPoll) {
  auto factory = std::make_unique<ScriptedFactory>(CloseWaitTable(1));
  Poller poller(config, std::move(factory), out);
  ASSERT_TRUE(poller.PollOnce());
  EXPECT_FALSE(std::isnan(Value(out, "tcpstate_process_sockets")));
  Config next = config;
  next.processes.enabled = false;
  poller.UpdateConfig(next);
  poller.ReloadSucceeded();
  ASSERT_TRUE(poller.PollOnce());
  EXPECT_TRUE(std::isnan(Value(out, "tcpstate_process_sockets")));
  poller.ReloadFailed({ReloadFile::kConfig, ReloadFailureReason::kInvalid, "poll.interval"});
  ASSERT_TRUE(poller.PollOnce());
  EXPECT_EQ(Value(out, "tcpstate_config_last_reload_successful"), 0);
}

// A reload's outcome is published at once, with the latest poll's data, not
// at the next poll.
TEST_F(PollerTest, ReloadOutcomeIsPublishedAtOnce) {
  auto factory = std::make_unique<ScriptedFactory>(CloseWaitTable(1));
  Poller poller(config, std::move(factory), out);
  poller.ReloadFailed({ReloadFile::kConfig, ReloadFailureReason::kYamlSyntax,
                       ""});  // before any poll: nothing to publish
  ASSERT_TRUE(poller.PollOnce());
  EXPECT_EQ(Value(out, "tcpstate_config_last_reload_successful"), 0);
  const double started = Value(out, "tcpstate_config_last_reload_success_timestamp_seconds");
  EXPECT_GT(started, 0);

  poller.ReloadFailed({ReloadFile::kConfig, ReloadFailureReason::kInvalid, "poll.interval"});
  EXPECT_EQ(Value(out, "tcpstate_config_last_reload_successful"), 0);
  EXPECT_EQ(Value(out, "tcpstate_config_reloads_total", {{"result", "failure"}}), 2);
  EXPECT_EQ(Value(out, "tcpstate_config_last_reload_failure_info",
                  {{"file", "config"}, {"reason", "invalid"}, {"key", "poll.interval"}}),
            1);
  EXPECT_FALSE(std::isnan(Value(out, "tcpstate_process_sockets")));  // the poll's data stays

  poller.ReloadSucceeded();
  EXPECT_EQ(Value(out, "tcpstate_config_last_reload_successful"), 1);
  EXPECT_EQ(Value(out, "tcpstate_config_reloads_total", {{"result", "success"}}), 1);
  EXPECT_TRUE(std::isnan(Value(out, "tcpstate_config_last_reload_failure_info")));
  EXPECT_GE(Value(out, "tcpstate_config_last_reload_success_timestamp_seconds"), started);
  EXPECT_FALSE(std::isnan(Value(out, "tcpstate_process_sockets")));
}

// Regression: a reload rebuilt the socket-table reader, which forgot that
// this kernel refuses the legacy request; each SIGHUP sent the refused
// request (and logged the fallback warning) again.
TEST_F(PollerTest, ReloadKeepsTheLearnedDumpFallback) {
  auto refuse_legacy = [table = CloseWaitTable(1)](uint8_t family, uint32_t states, uint32_t seq) {
    if (family == AF_UNSPEC) {
      return std::vector<Step>{{testing::ErrorMessage(seq, kScriptedPortId, -EINVAL)}};
    }
    return table(family, states, seq);
  };
  auto factory = std::make_unique<ScriptedFactory>(refuse_legacy);
  ScriptedFactory& scripted = *factory;
  Poller poller(config, std::move(factory), out);
  ASSERT_TRUE(poller.PollOnce());
  EXPECT_EQ(scripted.legacy_sends, 1);
  for (int reload = 0; reload < 3; ++reload) {
    Config next = config;
    next.poll.netlink_dump_retries = 5 + reload;
    poller.UpdateConfig(next);
    ASSERT_TRUE(poller.PollOnce());
  }
  EXPECT_EQ(scripted.legacy_sends, 1);
  EXPECT_EQ(Value(out, "tcpstate_sockets", {{"state", "close_wait"}}), 1);
}

// Regression: /readyz judged freshness by the start-up poll interval; after
// a reload to a longer interval the exporter reported itself unready between
// perfectly punctual polls.
TEST_F(PollerTest, ReadinessFollowsTheReloadedPollInterval) {
  config.poll.interval = std::chrono::seconds(10);  // fresh for 60 s
  auto factory = std::make_unique<ScriptedFactory>(CloseWaitTable(1));
  Poller poller(config, std::move(factory), out);
  EXPECT_FALSE(poller.ReadyAt(1e12));  // nothing polled yet
  ASSERT_TRUE(poller.PollOnce());
  const double polled = poller.last_success_unix();
  EXPECT_TRUE(poller.ReadyAt(polled + 59));
  EXPECT_FALSE(poller.ReadyAt(polled + 200));

  Config next = config;
  next.poll.interval = std::chrono::seconds(100);  // fresh for 300 s
  poller.UpdateConfig(next);
  ASSERT_TRUE(poller.PollOnce());
  const double repolled = poller.last_success_unix();
  EXPECT_TRUE(poller.ReadyAt(repolled + 200));
  EXPECT_FALSE(poller.ReadyAt(repolled + 301));
}

}  // namespace
}  // namespace tcpstate
