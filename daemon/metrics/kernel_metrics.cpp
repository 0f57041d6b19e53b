#include "metrics/kernel_metrics.h"

#include <iterator>

namespace tcpstate {
namespace {

// Indexed by Sysctl.
constexpr MetricName kSysctlMetrics[] = {
    {"tcpstate_kernel_tcp_max_tw_buckets",
     "net.ipv4.tcp_max_tw_buckets: TIME_WAIT sockets the kernel keeps before destroying new ones."},
    {"tcpstate_kernel_ip_local_port_range_low",
     "net.ipv4.ip_local_port_range: first ephemeral port."},
    {"tcpstate_kernel_ip_local_port_range_high",
     "net.ipv4.ip_local_port_range: last ephemeral port."},
    {"tcpstate_kernel_tcp_fin_timeout_seconds",
     "net.ipv4.tcp_fin_timeout: lifetime of orphaned FIN_WAIT2 sockets."},
    {"tcpstate_kernel_tcp_tw_reuse",
     "net.ipv4.tcp_tw_reuse: 0 off, 1 on, 2 loopback only (outbound connections only)."},
    {"tcpstate_kernel_tcp_keepalive_time_seconds",
     "net.ipv4.tcp_keepalive_time: idle time before the first keepalive probe."},
    {"tcpstate_kernel_tcp_keepalive_interval_seconds",
     "net.ipv4.tcp_keepalive_intvl: time between keepalive probes."},
    {"tcpstate_kernel_tcp_keepalive_probes",
     "net.ipv4.tcp_keepalive_probes: unanswered probes before the connection is dropped."},
    {"tcpstate_kernel_somaxconn", "net.core.somaxconn: upper limit of a listen() backlog."},
    {"tcpstate_kernel_tcp_max_syn_backlog",
     "net.ipv4.tcp_max_syn_backlog: half-open connections remembered per listener."},
    {"tcpstate_kernel_tcp_max_orphans",
     "net.ipv4.tcp_max_orphans: sockets not attached to any file the kernel keeps."},
    {"tcpstate_kernel_tcp_ehash_entries",
     "net.ipv4.tcp_ehash_entries: buckets of the established hash this network namespace "
     "uses; negative when it shares the node's, so every dump of it walks the sockets of "
     "all namespaces sharing it."},
    {"tcpstate_kernel_tcp_child_ehash_entries",
     "net.ipv4.tcp_child_ehash_entries (node's namespace only): established hash size given "
     "to network namespaces created from now on; 0 makes them share the node's."},
    {"tcpstate_kernel_tcp_mem_low_bytes",
     "net.ipv4.tcp_mem (first, in bytes): below it TCP memory is not under pressure."},
    {"tcpstate_kernel_tcp_mem_pressure_bytes",
     "net.ipv4.tcp_mem (second, in bytes): above it the kernel shrinks socket buffers "
     "(TCP memory pressure)."},
    {"tcpstate_kernel_tcp_mem_high_bytes",
     "net.ipv4.tcp_mem (third, in bytes): TCP memory allocations fail beyond it."},
    {"tcpstate_kernel_tcp_memory_in_use_bytes",
     "TCP memory in use by all sockets of the node (/proc/net/sockstat TCP mem, in bytes), "
     "to compare with the tcp_mem thresholds."},
};
static_assert(std::size(kSysctlMetrics) == kSysctlCount);

// Indexed by TcpExtField.
constexpr MetricName kTcpExtMetrics[] = {
    {"tcpstate_tcpext_tw_total", "TcpExt TW: TIME_WAIT sockets finished their wait."},
    {"tcpstate_tcpext_tw_recycled_total",
     "TcpExt TWRecycled: TIME_WAIT sockets recycled by timestamp."},
    {"tcpstate_tcpext_tw_killed_total", "TcpExt TWKilled: TIME_WAIT sockets killed early."},
    {"tcpstate_tcpext_time_wait_overflow_total",
     "TcpExt TCPTimeWaitOverflow: TIME_WAIT sockets not created because tcp_max_tw_buckets was "
     "reached."},
    {"tcpstate_tcpext_listen_overflows_total",
     "TcpExt ListenOverflows: connections dropped because an accept queue was full."},
    {"tcpstate_tcpext_listen_drops_total",
     "TcpExt ListenDrops: SYNs to listening sockets dropped."},
    {"tcpstate_tcpext_abort_on_close_total",
     "TcpExt TCPAbortOnClose: connections reset because the application closed with unread data."},
    {"tcpstate_tcpext_abort_on_timeout_total",
     "TcpExt TCPAbortOnTimeout: connections aborted after retransmission or keepalive timeouts."},
};
static_assert(std::size(kTcpExtMetrics) == kTcpExtFieldCount);

// Indexed by SnmpTcpField.
constexpr MetricName kSnmpTcpMetrics[] = {
    {"tcpstate_tcp_active_opens_total",
     "Tcp ActiveOpens (/proc/net/snmp): connections this network namespace opened (SYN "
     "sent); the rate of new outbound connections."},
    {"tcpstate_tcp_passive_opens_total",
     "Tcp PassiveOpens (/proc/net/snmp): connections accepted from a listener (SYN received)."},
    {"tcpstate_tcp_attempt_fails_total",
     "Tcp AttemptFails (/proc/net/snmp): connection attempts that failed before being "
     "established."},
    {"tcpstate_tcp_estab_resets_total",
     "Tcp EstabResets (/proc/net/snmp): established or CLOSE_WAIT connections reset."},
    {"tcpstate_tcp_retrans_segments_total",
     "Tcp RetransSegs (/proc/net/snmp): segments retransmitted."},
    {"tcpstate_tcp_in_errors_total",
     "Tcp InErrs (/proc/net/snmp): segments received in error (bad checksum, too short)."},
    {"tcpstate_tcp_out_resets_total", "Tcp OutRsts (/proc/net/snmp): segments sent with RST."},
};
static_assert(std::size(kSnmpTcpMetrics) == kSnmpTcpFieldCount);

}  // namespace

MetricName KernelSettingMetric(Sysctl sysctl) {
  return kSysctlMetrics[static_cast<size_t>(sysctl)];
}

MetricName TcpExtMetric(TcpExtField field) { return kTcpExtMetrics[static_cast<size_t>(field)]; }

MetricName SnmpTcpMetric(SnmpTcpField field) { return kSnmpTcpMetrics[static_cast<size_t>(field)]; }

}  // namespace tcpstate
