// Dashboard "overview": the node-level overview: sockets by state, TIME_WAIT and port limits, listeners.
// Queries go through q(): %(selPod)s etc. come from _queryContext (dashboards.libsonnet).
local labels = import '../lib/labels.libsonnet';
local lib = import 'lib.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local q(s) = labels.fmt(s, $._queryContext),
    'overview.json': lib.dashboard(c, 'overview', 'Overview', 'TCP sockets per state and node from tcpstate_exporter, with the kernel limits they run into.', lib.targetVariables(c) + lib.podVariables(c) + [
    ], [
      lib.stat('Sockets', 'All TCP sockets of the selected instances (sum of tcpstate_sockets over every state).', 'short', [
        lib.target(q('sum(tcpstate_sockets{%(selPod)s})')),
      ], [0, 0, 4, 4]),
      lib.stat('ESTABLISHED', 'Sockets in ESTABLISHED, summed over the selected instances.', 'short', [
        lib.target(q('sum(tcpstate_sockets{%(selPod)s, state="established"})')),
      ], [4, 0, 4, 4]),
      lib.stat('TIME_WAIT', 'Sockets in TIME_WAIT (60 s after the side that closed first closed), summed over the selected instances.', 'short', [
        lib.target(q('sum(tcpstate_sockets{%(selPod)s, state="time_wait"})')),
      ], [8, 0, 4, 4]),
      lib.stat('CLOSE_WAIT', 'Sockets in CLOSE_WAIT (peer closed, application has not), summed over the selected instances. Anything that stays here is a leak: see the CLOSE_WAIT hunt dashboard.', 'short', [
        lib.target(q('sum(tcpstate_sockets{%(selPod)s, state="close_wait"})')),
      ], [12, 0, 4, 4]) + { fieldConfig+: { defaults+: { thresholds+: { steps: [{ color: 'green', value: null }, { color: 'orange', value: 100 }, { color: 'red', value: c.closeWaitHigh.threshold }] } } } },
      lib.stat('Highest TIME_WAIT bucket usage', 'Largest ratio of TIME_WAIT sockets to net.ipv4.tcp_max_tw_buckets among the selected instances (alerts at 80% and 95%).', 'percentunit', [
        lib.target(q('max(sum by (%(ji)s, netns) (tcpstate_sockets{%(selPod)s, state="time_wait"})\n/ on (%(ji)s, netns)\n(max by (%(ji)s, netns) (tcpstate_kernel_tcp_max_tw_buckets{%(selPod)s}) > 0))')),
      ], [16, 0, 4, 4]) + { fieldConfig+: { defaults+: { thresholds+: { steps: [{ color: 'green', value: null }, { color: 'orange', value: c.timeWaitBuckets.warning.threshold }, { color: 'red', value: c.timeWaitBuckets.critical.threshold }] } } } },
      lib.stat('Highest ephemeral port use', 'Largest share of net.ipv4.ip_local_port_range used toward a single destination among the selected instances (alerts at 70% and 90%).', 'percentunit', [
        lib.target(q('max(tcpstate_outbound_local_ports_max{%(selPod)s}\n/ on (%(ji)s, netns) group_left ()\nmax by (%(ji)s, netns) (\n  tcpstate_kernel_ip_local_port_range_high{%(selPod)s}\n  - tcpstate_kernel_ip_local_port_range_low{%(selPod)s} + 1\n))')),
      ], [20, 0, 4, 4]) + { fieldConfig+: { defaults+: { thresholds+: { steps: [{ color: 'green', value: null }, { color: 'orange', value: c.ephemeralPortExhaustion.warning.threshold }, { color: 'red', value: c.ephemeralPortExhaustion.critical.threshold }] } } } },
      lib.timeseries('Sockets by state on $instance', 'TCP sockets of this node per state (IPv4 and IPv6, from tcpstate_sockets). Repeated for every selected instance. LISTEN is included; TIME_WAIT has no owner and holds no file descriptor; CLOSE_WAIT waits for the application to close().', 'short', [
        lib.target(q('tcpstate_sockets{%(selPod)s} > 0'), '{{state}}'),
      ], [0, 4, 12, 9]) + { fieldConfig+: { defaults+: { custom+: { fillOpacity: 40, stacking+: { mode: 'normal' } } } }, repeat: 'instance', repeatDirection: 'h', maxPerRow: 2 },
      lib.timeseries('TIME_WAIT vs tcp_max_tw_buckets', 'TIME_WAIT sockets per node with net.ipv4.tcp_max_tw_buckets drawn beside them (dashed). Past the limit the kernel destroys new TIME_WAIT sockets (TcpExt TCPTimeWaitOverflow).', 'short', [
        lib.target(q('sum by (%(i)s) (tcpstate_sockets{%(selPod)s, state="time_wait"})'), '{{instance}} TIME_WAIT'),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_max_tw_buckets{%(selPod)s})'), '{{instance}} tcp_max_tw_buckets'),
      ], [0, 13, 12, 8]) + { fieldConfig+: { overrides: [{ matcher: { id: 'byRegexp', options: '/tcp_max_tw_buckets/' }, properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }, { id: 'custom.fillOpacity', value: 0 }, { id: 'custom.lineWidth', value: 2 }] }] } },
      lib.timeseries('Local ports to the busiest destination vs port range', 'Largest number of sockets (so local ports) toward one destination, over all remote ports, with the size of net.ipv4.ip_local_port_range drawn beside it (dashed). When a destination uses the whole range, connect() fails with EADDRNOTAVAIL.', 'short', [
        lib.target(q('max by (%(i)s) (tcpstate_outbound_local_ports_max{%(selPod)s})'), '{{instance}} busiest destination'),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_ip_local_port_range_high{%(selPod)s} - tcpstate_kernel_ip_local_port_range_low{%(selPod)s} + 1)'), '{{instance}} ip_local_port_range size'),
      ], [12, 13, 12, 8]) + { fieldConfig+: { overrides: [{ matcher: { id: 'byRegexp', options: '/ip_local_port_range size/' }, properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }, { id: 'custom.fillOpacity', value: 0 }, { id: 'custom.lineWidth', value: 2 }] }] } },
      lib.timeseries('CLOSE_WAIT per node', 'CLOSE_WAIT sockets per instance. A line that only goes up is a socket leak in an application; the CLOSE_WAIT hunt dashboard names the process and port.', 'short', [
        lib.target(q('sum by (%(i)s) (tcpstate_sockets{%(selPod)s, state="close_wait"})'), '{{instance}}'),
      ], [0, 21, 12, 8]),
      lib.timeseries('Listening sockets and accept queues', 'Sum of the accept queues of all listening ports per instance, with the sum of their backlogs (dashed). A queue close to its backlog drops connections.', 'short', [
        lib.target(q('sum by (%(i)s) (tcpstate_listen_queue_length{%(selPod)s})'), '{{instance}} accept queue'),
        lib.target(q('sum by (%(i)s) (tcpstate_listen_backlog{%(selPod)s})'), '{{instance}} backlog'),
      ], [12, 21, 12, 8]) + { fieldConfig+: { overrides: [{ matcher: { id: 'byRegexp', options: '/backlog/' }, properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }, { id: 'custom.fillOpacity', value: 0 }, { id: 'custom.lineWidth', value: 2 }] }] } },
      lib.table('Kernel TCP settings', "Sysctls of the exporter's network namespace per instance, as read in the latest poll (tcpstate_kernel_*).", 'short', [
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_max_tw_buckets{%(selPod)s})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_ip_local_port_range_low{%(selPod)s})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_ip_local_port_range_high{%(selPod)s})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_tw_reuse{%(selPod)s})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_fin_timeout_seconds{%(selPod)s})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_keepalive_time_seconds{%(selPod)s})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_keepalive_interval_seconds{%(selPod)s})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_keepalive_probes{%(selPod)s})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_somaxconn{%(selPod)s})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_max_syn_backlog{%(selPod)s})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_max_orphans{%(selPod)s})'), '__auto', instant=true, table=true),
      ], [0, 29, 24, 7]) + { fieldConfig+: { overrides: [{ matcher: { id: 'byName', options: 'port range low' }, properties: [{ id: 'unit', value: 'none' }] }, { matcher: { id: 'byName', options: 'port range high' }, properties: [{ id: 'unit', value: 'none' }] }, { matcher: { id: 'byName', options: 'tcp_tw_reuse' }, properties: [{ id: 'unit', value: 'none' }] }, { matcher: { id: 'byName', options: 'tcp_fin_timeout' }, properties: [{ id: 'unit', value: 's' }] }, { matcher: { id: 'byName', options: 'keepalive_time' }, properties: [{ id: 'unit', value: 's' }] }, { matcher: { id: 'byName', options: 'keepalive_intvl' }, properties: [{ id: 'unit', value: 's' }] }] }, transformations: [{ id: 'merge', options: {} }, { id: 'organize', options: { excludeByName: { Time: true }, indexByName: {}, renameByName: { 'Value #A': 'tcp_max_tw_buckets', 'Value #B': 'port range low', 'Value #C': 'port range high', 'Value #D': 'tcp_tw_reuse', 'Value #E': 'tcp_fin_timeout', 'Value #F': 'keepalive_time', 'Value #G': 'keepalive_intvl', 'Value #H': 'keepalive_probes', 'Value #I': 'somaxconn', 'Value #J': 'tcp_max_syn_backlog', 'Value #K': 'tcp_max_orphans' } } }] },
      // Issue 13: who holds TCP memory, against the kernel's thresholds.
      lib.timeseries('TCP memory vs tcp_mem', "TCP memory in use on the node (/proc/net/sockstat TCP mem) against net.ipv4.tcp_mem: above pressure the kernel shrinks socket buffers, at high allocations fail (TcpstateTcpMemoryPressure warns at 80% of pressure). tcp_mem is shown in the node's own namespace only.", 'bytes', [
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_memory_in_use_bytes{%(selPod)s})'), '{{instance}} in use'),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_mem_low_bytes{%(selPod)s})'), '{{instance}} tcp_mem low'),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_mem_pressure_bytes{%(selPod)s})'), '{{instance}} tcp_mem pressure'),
        lib.target(q('max by (%(i)s) (tcpstate_kernel_tcp_mem_high_bytes{%(selPod)s})'), '{{instance}} tcp_mem high'),
      ], [0, 36, 12, 8]),
      lib.bargauge('Top processes by queued bytes', 'The 10 processes whose TCP sockets hold the most bytes in their queues (recv: received and not read, ss Recv-Q; send: not yet acknowledged, ss Send-Q).', 'bytes', [
        lib.target(q('topk(10, sum by (%(i)s, process, queue) (tcpstate_process_queue_bytes{%(selPod)s}))'), '{{process}} {{queue}} @ {{instance}}', instant=true),
      ], [12, 36, 12, 8]),
      lib.bargauge('Top ports by queued bytes', 'The 10 (direction, port) pairs whose TCP sockets hold the most queued bytes (listeners excluded).', 'bytes', [
        lib.target(q('topk(10, sum by (%(i)s, direction, port, queue) (tcpstate_port_queue_bytes{%(selPod)s}))'), '{{direction}} :{{port}} {{queue}} @ {{instance}}', instant=true),
      ], [0, 44, 24, 8]),
    ]),
  },
}
