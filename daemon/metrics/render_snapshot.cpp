#include "metrics/render_snapshot.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>

#include "common/close_wait_cause.h"
#include "common/tcp_state.h"
#include "metrics/build_info.h"
#include "metrics/kernel_metrics.h"

namespace tcpstate {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// Collects families; a family started twice (once per network namespace)
// gets one entry, and every series carries the current target's labels first.
class Families {
 public:
  void SetTargetLabels(const std::vector<std::pair<std::string, std::string>>& labels) {
    target_labels_.clear();
    for (const auto& [name, value] : labels) target_labels_.push_back({name, value});
  }
  MetricFamily& Start(std::string name, std::string help, MetricType type) {
    auto [it, inserted] = index_.try_emplace(name, families_.size());
    if (inserted) {
      families_.push_back(MetricFamily{std::move(name), std::move(help), type, {}});
    }
    current_ = it->second;
    return families_[current_];
  }
  void Add(Labels labels, double value) {
    ClientMetric metric;
    metric.label = target_labels_;
    metric.label.insert(metric.label.end(), std::make_move_iterator(labels.begin()),
                        std::make_move_iterator(labels.end()));
    MetricFamily& family = families_[current_];
    if (family.type == MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
    family.metric.push_back(std::move(metric));
  }
  // A family with one unlabelled series.
  void Single(std::string name, std::string help, MetricType type, double value) {
    Start(std::move(name), std::move(help), type);
    Add({}, value);
  }
  std::vector<MetricFamily> Take() { return std::move(families_); }

 private:
  std::vector<MetricFamily> families_;
  std::map<std::string, size_t> index_;
  size_t current_ = 0;
  Labels target_labels_;
};

void AppendProcessLabels(Labels& labels, const std::string& process, const std::string& pid,
                         bool pid_label) {
  labels.push_back({"process", process});
  if (pid_label) labels.push_back({"pid", pid});
}

void RenderSockets(const SocketTable& t, Families& f) {
  f.Start("tcpstate_sockets",
          "TCP sockets (IPv4 and IPv6) per state in the latest successful poll.",
          MetricType::Gauge);
  for (unsigned state = 1; state < t.by_state.size(); ++state) {
    const auto s = static_cast<uint8_t>(state);
    if (state <= kLastKnownState || t.by_state[state] > 0) {
      f.Add({{"state", StateLabel(s)}}, static_cast<double>(t.by_state[state]));
    }
  }

  f.Start("tcpstate_port_sockets",
          "TCP sockets per state by the port they concern: the local port for "
          "inbound connections, the remote port for outbound ones.",
          MetricType::Gauge);
  for (const auto& s : t.ports) {
    f.Add({{"state", StateLabel(s.state)},
           {"direction", DirectionLabel(s.direction)},
           {"port", s.port}},
          static_cast<double>(s.sockets));
  }

  // Queued bytes per (direction, port), summed over states: two series per
  // (direction, port) label pair, so bounded by the port cap.
  std::map<std::pair<Direction, std::string>, std::pair<uint64_t, uint64_t>> port_bytes;
  for (const auto& s : t.ports) {
    auto& b = port_bytes[{s.direction, s.port}];
    b.first += s.recv_bytes;
    b.second += s.send_bytes;
  }
  f.Start("tcpstate_port_queue_bytes",
          "Bytes queued in the TCP sockets of a port (queue=recv: received, not read by the "
          "application, ss Recv-Q; queue=send: not yet acknowledged by the peer, ss Send-Q). "
          "Listeners count 0 (their queue fields are the accept queue and backlog).",
          MetricType::Gauge);
  for (const auto& [k, b] : port_bytes) {
    for (const auto& [queue, bytes] : {std::pair{"recv", b.first}, std::pair{"send", b.second}}) {
      f.Add({{"direction", DirectionLabel(k.first)}, {"port", k.second}, {"queue", queue}},
            static_cast<double>(bytes));
    }
  }

  f.Start("tcpstate_listen_queue_length",
          "Connections waiting in the accept queue of the listening sockets on a port.",
          MetricType::Gauge);
  for (const auto& l : t.listeners) f.Add({{"port", l.port}}, static_cast<double>(l.queue));
  f.Start("tcpstate_listen_backlog",
          "Configured accept backlog of the listening sockets on a port.", MetricType::Gauge);
  for (const auto& l : t.listeners) f.Add({{"port", l.port}}, static_cast<double>(l.backlog));
  f.Start("tcpstate_listen_drops_total",
          "Connections dropped by the listening sockets of the port (their sk_drops, "
          "INET_DIAG_SKMEMINFO SK_MEMINFO_DROPS; the per-port share of TcpExt ListenDrops). "
          "Resets when a listener is re-created.",
          MetricType::Counter);
  for (const auto& l : t.listeners) f.Add({{"port", l.port}}, static_cast<double>(l.drops));
  f.Start("tcpstate_listen_syn_recv_sockets",
          "Inbound SYN_RECV and NEW_SYN_RECV sockets (handshakes not completed) of the port.",
          MetricType::Gauge);
  for (const auto& l : t.listeners) f.Add({{"port", l.port}}, static_cast<double>(l.syn_recv));

  f.Start("tcpstate_outbound_local_ports_max",
          "Largest number of local ports in use toward one destination (local "
          "address, remote address, remote port), by remote port.",
          MetricType::Gauge);
  for (const auto& o : t.outbound) {
    f.Add({{"port", o.port}}, static_cast<double>(o.max_local_ports));
  }

  if (t.processes_enabled) {
    f.Start("tcpstate_process_sockets",
            "TCP sockets per owning process and state. (none): no process can "
            "own the socket (TIME_WAIT, NEW_SYN_RECV, orphans).",
            MetricType::Gauge);
    for (const auto& p : t.processes) {
      Labels labels;
      AppendProcessLabels(labels, p.process, p.pid, t.pid_label);
      labels.push_back({"state", StateLabel(p.state)});
      f.Add(std::move(labels), static_cast<double>(p.sockets));
    }
    f.Start("tcpstate_process_open_fds",
            "Open file descriptors of a process in tcpstate_process_sockets (Linux 6.2+); "
            "of several sharing its labels, the one nearest its limit.",
            MetricType::Gauge);
    for (const auto& p : t.process_fds) {
      Labels labels;
      AppendProcessLabels(labels, p.process, p.pid, t.pid_label);
      f.Add(std::move(labels), static_cast<double>(p.open_fds));
    }
    f.Start("tcpstate_process_max_fds",
            "Soft RLIMIT_NOFILE of the process in tcpstate_process_open_fds: open() fails "
            "with EMFILE (Too many open files) at this many.",
            MetricType::Gauge);
    for (const auto& p : t.process_fds) {
      if (p.max_fds < 0) continue;
      Labels labels;
      AppendProcessLabels(labels, p.process, p.pid, t.pid_label);
      f.Add(std::move(labels), static_cast<double>(p.max_fds));
    }
    std::map<std::pair<std::string, std::string>, std::pair<uint64_t, uint64_t>> process_bytes;
    for (const auto& p : t.processes) {
      auto& b = process_bytes[{p.process, p.pid}];
      b.first += p.recv_bytes;
      b.second += p.send_bytes;
    }
    f.Start("tcpstate_process_queue_bytes",
            "Bytes queued in the TCP sockets of a process (queue=recv: received, not read; "
            "queue=send: not yet acknowledged), summed over the attributed states. Who holds the "
            "node's TCP "
            "memory.",
            MetricType::Gauge);
    for (const auto& [k, b] : process_bytes) {
      for (const auto& [queue, bytes] : {std::pair{"recv", b.first}, std::pair{"send", b.second}}) {
        Labels labels;
        AppendProcessLabels(labels, k.first, k.second, t.pid_label);
        labels.push_back({"queue", queue});
        f.Add(std::move(labels), static_cast<double>(bytes));
      }
    }
  }

  auto close_wait_labels = [&](const CloseWaitSeries& c) {
    Labels labels;
    AppendProcessLabels(labels, c.process, c.pid, t.pid_label);
    labels.push_back({"direction", DirectionLabel(c.direction)});
    labels.push_back({"port", c.port});
    labels.push_back({"cause", std::string(CloseWaitCauseName(c.cause))});
    return labels;
  };
  f.Start("tcpstate_close_wait_sockets",
          "CLOSE_WAIT sockets by owning process, port and cause: the peer closed and the "
          "socket was never accepted (not_accepted), its EOF not read (not_reading) or it "
          "was read and never closed (not_closed).",
          MetricType::Gauge);
  for (const auto& c : t.close_wait) {
    f.Add(close_wait_labels(c), static_cast<double>(c.sockets));
  }
  f.Start("tcpstate_close_wait_oldest_age_seconds",
          "Age of the oldest CLOSE_WAIT socket of the group, counted from the "
          "first poll that saw it in CLOSE_WAIT.",
          MetricType::Gauge);
  for (const auto& c : t.close_wait) f.Add(close_wait_labels(c), c.oldest_age_seconds);
  f.Start("tcpstate_close_wait_aged_sockets",
          "CLOSE_WAIT sockets of the group older than older_than_seconds.", MetricType::Gauge);
  for (const auto& c : t.close_wait) {
    for (size_t i = 0; i < t.age_thresholds.size() && i < c.aged_sockets.size(); ++i) {
      Labels labels = close_wait_labels(c);
      labels.push_back({"older_than_seconds", std::to_string(t.age_thresholds[i].count())});
      f.Add(std::move(labels), static_cast<double>(c.aged_sockets[i]));
    }
  }
}

void RenderKernel(const TargetData& s, Families& f) {
  f.Single("tcpstate_netns_stale",
           "1 when the latest poll could not read this network namespace's socket table "
           "(failed, or cut at namespaces.read_timeout): its socket series are from an "
           "earlier poll.",
           MetricType::Gauge, s.stale ? 1 : 0);
  if (s.kernel) {
    for (const auto& setting : s.kernel->values) {
      const MetricName metric = KernelSettingMetric(setting.sysctl);
      f.Single(std::string(metric.name), std::string(metric.help), MetricType::Gauge,
               static_cast<double>(setting.value));
      if (setting.sysctl == Sysctl::kTcpEhashEntries) {
        f.Single("tcpstate_netns_own_socket_hash",
                 "1 when this network namespace has its own established socket hash "
                 "(net.ipv4.tcp_ehash_entries > 0), 0 when it shares the node's: then every "
                 "dump of it walks the sockets of all sharing namespaces.",
                 MetricType::Gauge, setting.value > 0 ? 1 : 0);
      }
    }
  }
  if (s.tcpext) {
    for (const auto& counter : *s.tcpext) {
      const MetricName metric = TcpExtMetric(counter.field);
      f.Single(std::string(metric.name), std::string(metric.help), MetricType::Counter,
               static_cast<double>(counter.value));
    }
  }
  if (s.snmp_tcp) {
    for (const auto& counter : *s.snmp_tcp) {
      const MetricName metric = SnmpTcpMetric(counter.field);
      f.Single(std::string(metric.name), std::string(metric.help), MetricType::Counter,
               static_cast<double>(counter.value));
    }
  }
}

void RenderSelf(const Snapshot& snapshot, Families& f) {
  const SelfStats& s = snapshot.self;
  const BuildInfo& build = GetBuildInfo();
  f.Start("tcpstate_build_info", "Build of the running exporter; always 1.", MetricType::Gauge);
  f.Add({{"version", build.version}, {"revision", build.revision}, {"compiler", build.compiler}},
        1);
  f.Start("tcpstate_polls_total", "Polls of the socket table, by result.", MetricType::Counter);
  f.Add({{"result", "success"}}, static_cast<double>(s.polls_success));
  f.Add({{"result", "failure"}}, static_cast<double>(s.polls_failure));
  f.Single("tcpstate_last_poll_success",
           "1 if the latest poll succeeded; 0 means the socket data is from an older poll.",
           MetricType::Gauge, s.last_poll_success ? 1 : 0);
  f.Single("tcpstate_last_poll_success_timestamp_seconds",
           "Unix time of the latest successful poll.", MetricType::Gauge,
           s.last_success_timestamp_seconds);
  f.Single("tcpstate_poll_duration_seconds", "Wall time of the latest poll.", MetricType::Gauge,
           s.poll_duration_seconds);
  f.Single("tcpstate_poll_sockets", "Sockets seen by the latest successful poll.",
           MetricType::Gauge, static_cast<double>(s.poll_sockets));
  f.Start("tcpstate_source_up", "1 if the data source worked in the latest poll.",
          MetricType::Gauge);
  for (size_t i = 0; i < kSourceCount; ++i) {
    if (const auto& status = s.sources[i]) {
      f.Add({{"source", std::string(SourceName(static_cast<Source>(i)))}}, status->up ? 1 : 0);
    }
  }
  f.Start("tcpstate_source_duration_seconds", "Time the latest poll spent reading the data source.",
          MetricType::Gauge);
  for (size_t i = 0; i < kSourceCount; ++i) {
    if (const auto& status = s.sources[i]) {
      f.Add({{"source", std::string(SourceName(static_cast<Source>(i)))}},
            status->duration_seconds);
    }
  }
  f.Single("tcpstate_netlink_dump_retries_total",
           "Socket table reads restarted because the kernel flagged NLM_F_DUMP_INTR.",
           MetricType::Counter, static_cast<double>(s.netlink_retries));
  f.Single("tcpstate_netlink_foreign_datagrams_total",
           "Netlink datagrams dropped because a process, not the kernel, sent them to the "
           "exporter's sock_diag socket (a spoofing attempt).",
           MetricType::Counter, static_cast<double>(s.netlink_foreign_datagrams));
  f.Start("tcpstate_netlink_errors_total", "Failed sock_diag reads, by reason.",
          MetricType::Counter);
  // Every reason the kernel or the socket can cause, by name; cancelled and
  // deadline are not netlink errors (tcpstate_netns_deadline_exceeded_total).
  std::vector<std::pair<std::string_view, uint64_t>> errors;
  for (size_t i = 0; i < static_cast<size_t>(ReadFailure::kCancelled); ++i) {
    errors.emplace_back(ReadFailureName(static_cast<ReadFailure>(i)), s.netlink_errors[i]);
  }
  std::sort(errors.begin(), errors.end());
  for (const auto& [reason, count] : errors) {
    f.Add({{"reason", std::string(reason)}}, static_cast<double>(count));
  }
  if (s.attribution_enabled) {
    const AttributionStats& a = s.attribution;
    f.Single("tcpstate_process_attribution_available",
             "0 when the exporter may not read other processes' fds (needs "
             "CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH).",
             MetricType::Gauge, a.available ? 1 : 0);
    f.Start("tcpstate_process_attribution_errors_total",
            "Processes that could not be read during attribution, by reason.", MetricType::Counter);
    f.Add({{"reason", "io"}}, static_cast<double>(a.errors_io));
    f.Add({{"reason", "permission"}}, static_cast<double>(a.errors_permission));
    f.Add({{"reason", "vanished"}}, static_cast<double>(a.errors_vanished));
    f.Single("tcpstate_process_attribution_fds_read_total",
             "fd links read to find socket owners: the cost of attribution.", MetricType::Counter,
             static_cast<double>(a.fds_read));
    f.Start("tcpstate_process_attribution_scans_total",
            "Scans of /proc for unknown socket owners: partial scans stopped "
            "early among known owners, full scans visited every process.",
            MetricType::Counter);
    f.Add({{"kind", "full"}}, static_cast<double>(a.full_scans));
    f.Add({{"kind", "partial"}}, static_cast<double>(a.partial_scans));
    f.Single("tcpstate_process_attribution_cached_sockets",
             "Sockets whose owner the exporter remembers between polls (its memory grows "
             "with this).",
             MetricType::Gauge, static_cast<double>(s.owner_cache_sockets));
  }
  f.Single("tcpstate_close_wait_tracked_sockets",
           "CLOSE_WAIT sockets followed for their age (bounded by close_wait.max_tracked).",
           MetricType::Gauge, static_cast<double>(s.close_wait_tracked));
  uint64_t folded_ports = 0;
  uint64_t folded_processes = 0;
  for (const auto& target : snapshot.targets) {
    if (!target.sockets) continue;
    folded_ports += target.sockets->folded_ports;
    folded_processes += target.sockets->folded_processes;
  }
  f.Start("tcpstate_folded_series",
          "Distinct label values folded into other/(other) by a cap in the latest poll.",
          MetricType::Gauge);
  f.Add({{"cap", "port"}}, static_cast<double>(folded_ports));
  f.Add({{"cap", "process"}}, static_cast<double>(folded_processes));
  if (s.netns.all_mode) {
    f.Single("tcpstate_netns_read", "Network namespaces read in the latest poll.",
             MetricType::Gauge, static_cast<double>(s.netns.read));
    f.Single("tcpstate_netns_over_cap",
             "Network namespaces not read in the latest poll because of namespaces.max.",
             MetricType::Gauge, static_cast<double>(s.netns.over_cap));
    f.Single("tcpstate_netns_vanished_total",
             "Network namespaces that disappeared between discovery and dump.", MetricType::Counter,
             static_cast<double>(s.netns.vanished_total));
    f.Single("tcpstate_netns_enter_failures_total",
             "Network namespaces that could not be entered (needs CAP_SYS_ADMIN and "
             "CAP_SYS_PTRACE).",
             MetricType::Counter, static_cast<double>(s.netns.enter_failures_total));
    f.Single("tcpstate_netns_unreadable_processes",
             "Processes whose network namespace the exporter may not read.", MetricType::Gauge,
             static_cast<double>(s.netns.unreadable));
    f.Single("tcpstate_netns_deadline_exceeded_total",
             "Network namespace reads cut at namespaces.read_timeout (the namespace's last "
             "good data is kept, tcpstate_netns_stale 1).",
             MetricType::Counter, static_cast<double>(s.netns.deadline_exceeded_total));
    f.Start("tcpstate_pod_identity_failures_total",
            "Pod names or namespaces that could not be read safely, by reason (the label is "
            "then empty): missing, symlink_loop, not_regular, too_large, unsafe_filesystem, "
            "error (pod files); timeout, busy (background reads); kubelet_dir, "
            "kubelet_unknown (kubelet pod log directories).",
            MetricType::Counter);
    // Every reason, by name.
    std::vector<std::pair<std::string_view, uint64_t>> failures;
    for (size_t i = 0; i < kPodIdentityFailureCount; ++i) {
      failures.emplace_back(PodIdentityFailureName(static_cast<PodIdentityFailure>(i)),
                            s.netns.pod_identity_failures_total[i]);
    }
    std::sort(failures.begin(), failures.end());
    for (const auto& [reason, count] : failures) {
      f.Add({{"reason", std::string(reason)}}, static_cast<double>(count));
    }
    f.Single("tcpstate_pod_identity_reads_in_flight",
             "Background reads of pod files not finished (namespaces.pod_names: pod); one "
             "that stays up is stuck in the kernel.",
             MetricType::Gauge, static_cast<double>(s.netns.pod_identity_reads_in_flight));
  }
  const ConfigReloadStats& reload = s.config_reload;
  f.Single("tcpstate_config_last_reload_successful",
           "0 after a configuration reload (SIGHUP) was rejected.", MetricType::Gauge,
           reload.last_successful ? 1 : 0);
  f.Single("tcpstate_config_last_reload_success_timestamp_seconds",
           "Unix time of the latest successful configuration load (start-up or SIGHUP).",
           MetricType::Gauge, reload.last_success_timestamp_seconds);
  f.Start("tcpstate_config_reloads_total", "Configuration reloads (SIGHUP), by result.",
          MetricType::Counter);
  f.Add({{"result", "success"}}, static_cast<double>(reload.success_total));
  f.Add({{"result", "failure"}}, static_cast<double>(reload.failure_total));
  if (!reload.last_successful) {
    f.Start("tcpstate_config_last_reload_failure_info",
            "Why the latest configuration reload was rejected; present only while it "
            "was. file: config or web_config; reason: unreadable, yaml_syntax or invalid; "
            "key: the offending key path, for invalid.",
            MetricType::Gauge);
    Labels labels{{"file", std::string(ReloadFileName(reload.failure.file))},
                  {"reason", std::string(ReloadFailureReasonName(reload.failure.reason))}};
    if (!reload.failure.key.empty()) labels.push_back({"key", reload.failure.key});
    f.Add(std::move(labels), 1);
  }
}

}  // namespace

std::vector<MetricFamily> RenderSnapshot(const Snapshot& snapshot) {
  Families f;
  for (const auto& target : snapshot.targets) {
    f.SetTargetLabels(target.labels);
    if (target.sockets) RenderSockets(*target.sockets, f);
  }
  for (const auto& target : snapshot.targets) {
    f.SetTargetLabels(target.labels);
    RenderKernel(target, f);
  }
  f.SetTargetLabels({});
  RenderSelf(snapshot, f);
  return f.Take();
}

}  // namespace tcpstate
