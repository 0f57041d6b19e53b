// Dashboard "time-wait-and-ports": TIME_WAIT, ephemeral ports and accept queues.
// Queries go through q(): %(selPod)s etc. come from _queryContext (dashboards.libsonnet).
local labels = import '../lib/labels.libsonnet';
local lib = import 'lib.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local q(s) = labels.fmt(s, $._queryContext),
    'time-wait-and-ports.json': lib.dashboard(c, 'time-wait-and-ports', 'TIME_WAIT and ports', 'TIME_WAIT against tcp_max_tw_buckets, ephemeral port use per destination, accept queues and the kernel counters behind them.', lib.targetVariables(c) + lib.podVariables(c) + [
      lib.queryVariable('port', 'Port', q('label_values(tcpstate_port_sockets{%(selPod)s}, port)')),
    ], [
      lib.timeseries('TIME_WAIT vs tcp_max_tw_buckets', 'TIME_WAIT sockets per instance and the net.ipv4.tcp_max_tw_buckets limit (dashed). TIME_WAIT lasts 60 s on the side that closed first; its count is about closes per second x 60.', 'short', [
        lib.target(q('sum by (%(i)s) (tcpstate_sockets{%(selPod)s, state="time_wait"})'), '{{instance}} TIME_WAIT'),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_max_tw_buckets{%(selPod)s})'), '{{instance}} tcp_max_tw_buckets'),
      ], [0, 0, 12, 8]) + { fieldConfig+: { overrides: [{ matcher: { id: 'byRegexp', options: '/tcp_max_tw_buckets/' }, properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }, { id: 'custom.fillOpacity', value: 0 }, { id: 'custom.lineWidth', value: 2 }] }] } },
      lib.timeseries('TIME_WAIT bucket usage', 'TIME_WAIT sockets as a share of net.ipv4.tcp_max_tw_buckets per instance. Alerts: warning above 80%, critical above 95%.', 'percentunit', [
        lib.target(q('sum by (%(ji)s, netns) (tcpstate_sockets{%(selPod)s, state="time_wait"})\n/ on (%(ji)s, netns)\n(max by (%(ji)s, netns) (tcpstate_kernel_tcp_max_tw_buckets{%(selPod)s}) > 0)'), '{{instance}}'),
      ], [12, 0, 12, 8]) + { fieldConfig+: { defaults+: { custom+: { thresholdsStyle+: { mode: 'line+area' } }, thresholds+: { steps: [{ color: 'green', value: null }, { color: 'orange', value: c.timeWaitBuckets.warning.threshold }, { color: 'red', value: c.timeWaitBuckets.critical.threshold }] }, min: 0 } } },
      lib.timeseries('TIME_WAIT by direction and port', 'The 15 (direction, port) pairs with the most TIME_WAIT sockets. inbound: our listening port (our server closed first); outbound: remote port (our client closed first).', 'short', [
        lib.target(q('topk(15, sum by (%(i)s, direction, port) (tcpstate_port_sockets{%(selPod)s, state="time_wait", port=~"$port"}))'), '{{direction}} :{{port}} @ {{instance}}'),
      ], [0, 8, 12, 8]),
      lib.timeseries('TIME_WAIT kernel counters', 'TcpExt counters as rates: TW = sockets that entered TIME_WAIT, TWKilled = TIME_WAIT sockets ended early, TWRecycled = reused by tcp_tw_reuse, TCPTimeWaitOverflow = not created because tcp_max_tw_buckets was reached.', 'cps', [
        lib.target(q('rate(tcpstate_tcpext_tw_total{%(selPod)s}[$__rate_interval])'), '{{instance}} TW'),
        lib.target(q('rate(tcpstate_tcpext_tw_killed_total{%(selPod)s}[$__rate_interval])'), '{{instance}} TWKilled'),
        lib.target(q('rate(tcpstate_tcpext_tw_recycled_total{%(selPod)s}[$__rate_interval])'), '{{instance}} TWRecycled'),
        lib.target(q('rate(tcpstate_tcpext_time_wait_overflow_total{%(selPod)s}[$__rate_interval])'), '{{instance}} TCPTimeWaitOverflow'),
      ], [12, 8, 12, 8]),
      lib.timeseries('Ephemeral port use per remote port', 'For each remote port, the local ports used toward its busiest destination as a share of net.ipv4.ip_local_port_range. At 100% connect() fails with EADDRNOTAVAIL. Alerts: warning above 70%, critical above 90%.', 'percentunit', [
        lib.target(q('tcpstate_outbound_local_ports_max{%(selPod)s, port=~"$port"}\n/ on (%(ji)s, netns) group_left ()\nmax by (%(ji)s, netns) (\n  tcpstate_kernel_ip_local_port_range_high{%(selPod)s}\n  - tcpstate_kernel_ip_local_port_range_low{%(selPod)s} + 1\n)'), ':{{port}} @ {{instance}}'),
      ], [0, 16, 12, 8]) + { fieldConfig+: { defaults+: { custom+: { thresholdsStyle+: { mode: 'line+area' } }, thresholds+: { steps: [{ color: 'green', value: null }, { color: 'orange', value: c.ephemeralPortExhaustion.warning.threshold }, { color: 'red', value: c.ephemeralPortExhaustion.critical.threshold }] }, min: 0 } } },
      lib.timeseries('Local ports to the busiest destination vs port range', 'Sockets toward the busiest destination per remote port (tcpstate_outbound_local_ports_max) and the size of ip_local_port_range (dashed).', 'short', [
        lib.target(q('tcpstate_outbound_local_ports_max{%(selPod)s, port=~"$port"}'), ':{{port}} @ {{instance}}'),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_ip_local_port_range_high{%(selPod)s} - tcpstate_kernel_ip_local_port_range_low{%(selPod)s} + 1)'), '{{instance}} ip_local_port_range size'),
      ], [12, 16, 12, 8]) + { fieldConfig+: { overrides: [{ matcher: { id: 'byRegexp', options: '/ip_local_port_range size/' }, properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }, { id: 'custom.fillOpacity', value: 0 }, { id: 'custom.lineWidth', value: 2 }] }] } },
      lib.bargauge('Busiest remote ports vs port range', 'The 10 remote ports whose busiest destination uses the largest share of the ephemeral port range now.', 'percentunit', [
        lib.target(q('topk(10, tcpstate_outbound_local_ports_max{%(selPod)s, port=~"$port"}\n/ on (%(ji)s, netns) group_left ()\nmax by (%(ji)s, netns) (\n  tcpstate_kernel_ip_local_port_range_high{%(selPod)s}\n  - tcpstate_kernel_ip_local_port_range_low{%(selPod)s} + 1\n))'), ':{{port}} @ {{instance}}', instant=true),
      ], [0, 24, 12, 8]) + { fieldConfig+: { defaults+: { thresholds+: { steps: [{ color: 'green', value: null }, { color: 'orange', value: c.ephemeralPortExhaustion.warning.threshold }, { color: 'red', value: c.ephemeralPortExhaustion.critical.threshold }] }, max: 1 } } },
      lib.timeseries('Outbound sockets by state for the selected ports', 'Outbound sockets per state and remote port (the 20 largest). Mostly time_wait: connection churn, use keep-alive; mostly established: too many concurrent connections.', 'short', [
        lib.target(q('topk(20, sum by (%(i)s, port, state) (tcpstate_port_sockets{%(selPod)s, direction="outbound", port=~"$port"}) > 0)'), '{{state}} :{{port}} @ {{instance}}'),
      ], [12, 24, 12, 8]),
      lib.timeseries('Accept queue vs backlog', 'Accept queue of the listening sockets per port (connections waiting for accept()) and their backlog (dashed; summed over IPv4/IPv6 and SO_REUSEPORT listeners).', 'short', [
        lib.target(q('tcpstate_listen_queue_length{%(selPod)s, port=~"$port"}'), ':{{port}} @ {{instance}} queue'),
        lib.target(q('tcpstate_listen_backlog{%(selPod)s, port=~"$port"}'), ':{{port}} @ {{instance}} backlog'),
      ], [0, 32, 12, 8]) + { fieldConfig+: { overrides: [{ matcher: { id: 'byRegexp', options: '/backlog$/' }, properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }, { id: 'custom.fillOpacity', value: 0 }, { id: 'custom.lineWidth', value: 2 }] }] } },
      lib.timeseries('Accept queue fill', 'Accept queue as a share of the backlog per listening port (ports with a backlog of 0 are left out). Alert above 80%.', 'percentunit', [
        lib.target(q('tcpstate_listen_queue_length{%(selPod)s, port=~"$port"} / (tcpstate_listen_backlog{%(selPod)s, port=~"$port"} > 0)'), ':{{port}} @ {{instance}}'),
      ], [12, 32, 12, 8]) + { fieldConfig+: { defaults+: { custom+: { thresholdsStyle+: { mode: 'line+area' } }, thresholds+: { steps: [{ color: 'green', value: null }, { color: 'orange', value: c.acceptQueueNearFull.threshold }] }, min: 0 } } },
      lib.timeseries('Listen overflows and drops', 'TcpExt ListenOverflows (accept queue full) and ListenDrops (all drops of incoming connections, overflows included) per second. Any is a dropped handshake.', 'cps', [
        lib.target(q('rate(tcpstate_tcpext_listen_overflows_total{%(selPod)s}[$__rate_interval])'), '{{instance}} ListenOverflows'),
        lib.target(q('rate(tcpstate_tcpext_listen_drops_total{%(selPod)s}[$__rate_interval])'), '{{instance}} ListenDrops'),
      ], [0, 40, 12, 8]),
      // Issue 13: which port drops, and its handshakes in progress.
      lib.timeseries('Listen drops and SYN_RECV per port', "Connections dropped per second by the listeners of each port (tcpstate_listen_drops_total, each listener's own drop counter: the port behind ListenDrops) and the port's handshakes in progress (SYN_RECV, dashed).", 'short', [
        lib.target(q('rate(tcpstate_listen_drops_total{%(selPod)s, port=~"$port"}[$__rate_interval])'), ':{{port}} @ {{instance}} drops/s'),
        lib.target(q('tcpstate_listen_syn_recv_sockets{%(selPod)s, port=~"$port"}'), ':{{port}} @ {{instance}} syn_recv'),
      ], [0, 62, 24, 8]),
      lib.timeseries('Connection aborts', 'TcpExt TCPAbortOnClose (application closed with unread data: RST sent) and TCPAbortOnTimeout (connection given up after retransmission or keepalive timeouts) per second.', 'cps', [
        lib.target(q('rate(tcpstate_tcpext_abort_on_close_total{%(selPod)s}[$__rate_interval])'), '{{instance}} TCPAbortOnClose'),
        lib.target(q('rate(tcpstate_tcpext_abort_on_timeout_total{%(selPod)s}[$__rate_interval])'), '{{instance}} TCPAbortOnTimeout'),
      ], [12, 40, 12, 8]),
      lib.table('TIME_WAIT and port settings', 'Sysctls that bound TIME_WAIT, the ephemeral ports and the accept queues, per instance.', 'short', [
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_max_tw_buckets{%(selPod)s})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_tw_reuse{%(selPod)s})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_ip_local_port_range_low{%(selPod)s})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_ip_local_port_range_high{%(selPod)s})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_fin_timeout_seconds{%(selPod)s})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_somaxconn{%(selPod)s})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_max_syn_backlog{%(selPod)s})'), '__auto', instant=true, table=true),
      ], [0, 48, 24, 6]) + { fieldConfig+: { overrides: [{ matcher: { id: 'byName', options: 'tcp_tw_reuse' }, properties: [{ id: 'unit', value: 'none' }] }, { matcher: { id: 'byName', options: 'port range low' }, properties: [{ id: 'unit', value: 'none' }] }, { matcher: { id: 'byName', options: 'port range high' }, properties: [{ id: 'unit', value: 'none' }] }, { matcher: { id: 'byName', options: 'tcp_fin_timeout' }, properties: [{ id: 'unit', value: 's' }] }] }, transformations: [{ id: 'merge', options: {} }, { id: 'organize', options: { excludeByName: { Time: true }, indexByName: {}, renameByName: { 'Value #A': 'tcp_max_tw_buckets', 'Value #B': 'tcp_tw_reuse', 'Value #C': 'port range low', 'Value #D': 'port range high', 'Value #E': 'tcp_fin_timeout', 'Value #F': 'somaxconn', 'Value #G': 'tcp_max_syn_backlog' } } }] },
      // Per pod (namespaces.mode all).
      lib.timeseries('TIME_WAIT per pod', "TIME_WAIT sockets per pod (pod_namespace/pod_name), the 15 largest. A pod's TIME_WAIT counts against the tcp_max_tw_buckets of its own network namespace; many short-lived outbound connections from one pod point at missing keep-alive or pooling.", 'short', [
        lib.target(q('topk(15, sum by (%(cluster)s, instance, pod_namespace, pod_name) (tcpstate_sockets{%(selPod)s, state="time_wait", pod_name!=""}))'), '{{pod_namespace}}/{{pod_name}} @ {{instance}}'),
      ], [0, 54, 12, 8]),
      lib.timeseries('TIME_WAIT bucket usage per pod', 'TIME_WAIT sockets of each pod as a fraction of the tcp_max_tw_buckets of its network namespace (TcpstateTimeWaitBuckets fires at the dashed levels).', 'percentunit', [
        lib.target(q('sum by (%(cluster)s, job, instance, netns, pod_namespace, pod_name) (tcpstate_sockets{%(selPod)s, state="time_wait", pod_name!=""})\n/ on (%(cluster)s, job, instance, netns) group_left ()\n(max by (%(cluster)s, job, instance, netns) (tcpstate_kernel_tcp_max_tw_buckets{%(selPod)s}) > 0)'), '{{pod_namespace}}/{{pod_name}} @ {{instance}}'),
      ], [12, 54, 12, 8]) + { fieldConfig+: { defaults+: {
        min: 0,
        custom+: { thresholdsStyle: { mode: 'dashed' } },
        thresholds: lib.thresholds([['green', null], ['orange', c.timeWaitBuckets.warning.threshold], ['red', c.timeWaitBuckets.critical.threshold]]),
      } } },
      // Connection churn (/proc/net/snmp Tcp), the rate that produces TIME_WAIT.
      lib.timeseries('New connections per second (churn)', 'Tcp counters of /proc/net/snmp as rates, per instance and network namespace: ActiveOpens = new outbound connections (each one this side closes first stays 60 s in TIME_WAIT: TIME_WAIT is about this rate x 60), PassiveOpens = connections accepted, AttemptFails = connects that failed, EstabResets = established connections reset.', 'cps', [
        lib.target(q('sum by (%(ji)s) (rate(tcpstate_tcp_active_opens_total{%(selPod)s}[$__rate_interval]))'), '{{instance}} ActiveOpens (outbound)'),
        lib.target(q('sum by (%(ji)s) (rate(tcpstate_tcp_passive_opens_total{%(selPod)s}[$__rate_interval]))'), '{{instance}} PassiveOpens (inbound)'),
        lib.target(q('sum by (%(ji)s) (rate(tcpstate_tcp_attempt_fails_total{%(selPod)s}[$__rate_interval]))'), '{{instance}} AttemptFails'),
        lib.target(q('sum by (%(ji)s) (rate(tcpstate_tcp_estab_resets_total{%(selPod)s}[$__rate_interval]))'), '{{instance}} EstabResets'),
      ], [0, 62, 12, 8]),
      lib.timeseries('New outbound connections per pod', "ActiveOpens per second of each pod's network namespace, the 15 largest: the pod whose clients open a connection per request (compare with TIME_WAIT per pod above). Retransmitted segments and RSTs sent show on the dashed lines.", 'cps', [
        lib.target(q('topk(15, sum by (%(cluster)s, instance, pod_namespace, pod_name) (rate(tcpstate_tcp_active_opens_total{%(selPod)s, pod_name!=""}[$__rate_interval])))'), '{{pod_namespace}}/{{pod_name}} @ {{instance}}'),
        lib.target(q('topk(15, sum by (%(cluster)s, instance, pod_namespace, pod_name) (rate(tcpstate_tcp_out_resets_total{%(selPod)s, pod_name!=""}[$__rate_interval])))'), '{{pod_namespace}}/{{pod_name}} @ {{instance}} OutRsts'),
        lib.target(q('topk(15, sum by (%(cluster)s, instance, pod_namespace, pod_name) (rate(tcpstate_tcp_retrans_segments_total{%(selPod)s, pod_name!=""}[$__rate_interval])))'), '{{pod_namespace}}/{{pod_name}} @ {{instance}} RetransSegs'),
        lib.target(q('topk(15, sum by (%(cluster)s, instance, pod_namespace, pod_name) (rate(tcpstate_tcp_in_errors_total{%(selPod)s, pod_name!=""}[$__rate_interval])))'), '{{pod_namespace}}/{{pod_name}} @ {{instance}} InErrs'),
      ], [12, 62, 12, 8]) + { fieldConfig+: { overrides: [{ matcher: { id: 'byRegexp', options: '/(OutRsts|RetransSegs|InErrs)$/' }, properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }] }] } },
    ]),
  },
}
