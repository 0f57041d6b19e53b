// Dashboard "close-wait-hunt": which process, port and pod leaks CLOSE_WAIT sockets.
// Queries go through q(): %(selPod)s etc. come from _queryContext (dashboards.libsonnet).
local labels = import '../lib/labels.libsonnet';
local lib = import 'lib.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local q(s) = labels.fmt(s, $._queryContext),
    // A data link to the instance's /close_wait page (remote addresses, pids, fds).
    local pageLink = { fieldConfig+: { defaults+: { links: [{ title: 'CLOSE_WAIT sockets of ${__field.labels.process} on ${__field.labels.instance} (remote addresses, pids)', url: (c.exporterURLPattern % '${__field.labels.instance}') + '/close_wait?process=${__field.labels.process:percentencode}', targetBlank: true }] } } },
    'close-wait-hunt.json': lib.dashboard(c, 'close-wait-hunt', 'CLOSE_WAIT hunt', 'Which process and which port leak CLOSE_WAIT sockets, since when, and how fast.', lib.targetVariables(c) + lib.podVariables(c) + [
      lib.queryVariable('process', 'Process', q('label_values(tcpstate_close_wait_sockets{%(selPod)s}, process)')),
      lib.queryVariable('port', 'Port', q('label_values(tcpstate_close_wait_sockets{%(selPod)s, process=~"$process"}, port)')),
    ], [
      lib.stat('CLOSE_WAIT sockets', 'CLOSE_WAIT sockets of the selected instances, processes and ports.', 'short', [
        lib.target(q('sum(tcpstate_close_wait_sockets{%(selPod)s, process=~"$process", port=~"$port"})')),
      ], [0, 0, 6, 4]) + { fieldConfig+: { defaults+: { thresholds+: { steps: [{ color: 'green', value: null }, { color: 'orange', value: 100 }, { color: 'red', value: c.closeWaitHigh.threshold }] } } } },
      lib.stat('Groups with CLOSE_WAIT', 'Number of (instance, process, direction, port) groups that hold at least one CLOSE_WAIT socket.', 'short', [
        lib.target(q('count(sum by (%(ji)s, process, direction, port) (tcpstate_close_wait_sockets{%(selPod)s, process=~"$process", port=~"$port"}) > 0) or vector(0)')),
      ], [6, 0, 6, 4]),
      lib.stat('Growing groups', 'Groups whose CLOSE_WAIT count has a positive 30-minute trend: the candidates of TcpstateCloseWaitGrowing.', 'short', [
        lib.target(q('count(sum by (%(ji)s, process, direction, port) (deriv(tcpstate_close_wait_sockets{%(selPod)s, process=~"$process", port=~"$port"}[30m])) * 3600 > 0) or vector(0)')),
      ], [12, 0, 6, 4]) + { fieldConfig+: { defaults+: { thresholds+: { steps: [{ color: 'green', value: null }, { color: 'orange', value: 1 }] } } } },
      lib.stat('Oldest CLOSE_WAIT', 'Age of the oldest CLOSE_WAIT socket among the selection, measured from the first poll that saw it (alert at 30 min).', 's', [
        lib.target(q('max(tcpstate_close_wait_oldest_age_seconds{%(selPod)s, process=~"$process", port=~"$port"})')),
      ], [18, 0, 6, 4]) + { fieldConfig+: { defaults+: { thresholds+: { steps: [{ color: 'green', value: null }, { color: 'orange', value: 600 }, { color: 'red', value: c.closeWaitLingering.thresholdSeconds }] } } } },
      lib.bargauge('Top processes by CLOSE_WAIT', 'The 10 processes holding the most CLOSE_WAIT sockets (all ports). Each socket holds a file descriptor until the process calls close().', 'short', [
        lib.target(q('topk(10, sum by (%(i)s, process) (tcpstate_close_wait_sockets{%(selPod)s, process=~"$process", port=~"$port"}))'), '{{process}} @ {{instance}}', instant=true),
      ], [0, 4, 12, 9]) + { fieldConfig+: { defaults+: { thresholds+: { steps: [{ color: 'green', value: null }, { color: 'orange', value: 100 }, { color: 'red', value: c.closeWaitHigh.threshold }] } } } } + pageLink,
      lib.bargauge('Top ports by CLOSE_WAIT', 'The 10 ports with the most CLOSE_WAIT sockets. outbound: remote port of a server we connected to (our client code leaks); inbound: our listening port (our server code leaks).', 'short', [
        lib.target(q('topk(10, sum by (%(i)s, direction, port) (tcpstate_close_wait_sockets{%(selPod)s, process=~"$process", port=~"$port"}))'), '{{direction}} :{{port}} @ {{instance}}', instant=true),
      ], [12, 4, 12, 9]) + { fieldConfig+: { defaults+: { thresholds+: { steps: [{ color: 'green', value: null }, { color: 'orange', value: 100 }, { color: 'red', value: c.closeWaitHigh.threshold }] } } } },
      lib.table('CLOSE_WAIT groups', 'Every (instance, process, direction, port) group with CLOSE_WAIT sockets: count, age of the oldest socket and growth per hour (30-minute slope). Sort by age or growth to find the leak.', 'short', [
        lib.target(q('sum by (%(ji)s, process, direction, port) (tcpstate_close_wait_sockets{%(selPod)s, process=~"$process", port=~"$port"})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(ji)s, process, direction, port) (tcpstate_close_wait_oldest_age_seconds{%(selPod)s, process=~"$process", port=~"$port"})'), '__auto', instant=true, table=true),
        lib.target(q('sum by (%(ji)s, process, direction, port) (deriv(tcpstate_close_wait_sockets{%(selPod)s, process=~"$process", port=~"$port"}[30m])) * 3600'), '__auto', instant=true, table=true),
      ], [0, 13, 24, 9]) + { fieldConfig+: { overrides: [{ matcher: { id: 'byName', options: 'oldest age' }, properties: [{ id: 'unit', value: 's' }] }, { matcher: { id: 'byName', options: 'growth per hour' }, properties: [{ id: 'unit', value: 'short' }, { id: 'decimals', value: 1 }] }] }, options+: { sortBy: [{ displayName: 'CLOSE_WAIT', desc: true }] }, transformations: [{ id: 'merge', options: {} }, { id: 'organize', options: { excludeByName: { Time: true }, indexByName: {}, renameByName: { 'Value #A': 'CLOSE_WAIT', 'Value #B': 'oldest age', 'Value #C': 'growth per hour' } } }] },
      lib.timeseries('CLOSE_WAIT by process and port', 'CLOSE_WAIT sockets per process, direction and port (summed over pids). A leak is a line that only goes up; restarts of the process drop it to zero.', 'short', [
        lib.target(q('sum by (%(ji)s, process, direction, port) (tcpstate_close_wait_sockets{%(selPod)s, process=~"$process", port=~"$port"}) > 0'), '{{process}} {{direction}} :{{port}} @ {{instance}}'),
      ], [0, 22, 12, 8]) + pageLink,
      lib.timeseries('CLOSE_WAIT growth per hour', 'Slope of the CLOSE_WAIT count over the last 30 minutes, in sockets per hour, per process and port. Persistently positive means a leak.', 'short', [
        lib.target(q('sum by (%(ji)s, process, direction, port) (deriv(tcpstate_close_wait_sockets{%(selPod)s, process=~"$process", port=~"$port"}[30m])) * 3600'), '{{process}} {{direction}} :{{port}} @ {{instance}}'),
      ], [12, 22, 12, 8]),
      lib.timeseries('Oldest CLOSE_WAIT age', 'Age of the oldest CLOSE_WAIT socket per process and port. A saw tooth is normal churn; a straight rising line is a socket nobody will ever close (alert threshold 1800 s dashed).', 's', [
        lib.target(q('max by (%(ji)s, process, direction, port) (tcpstate_close_wait_oldest_age_seconds{%(selPod)s, process=~"$process", port=~"$port"})'), '{{process}} {{direction}} :{{port}} @ {{instance}}'),
      ], [0, 30, 12, 8]) + { fieldConfig+: { defaults+: { custom+: { thresholdsStyle+: { mode: 'line+area' } }, thresholds+: { steps: [{ color: 'green', value: null }, { color: 'red', value: c.closeWaitLingering.thresholdSeconds }] } } } },
      lib.timeseries('Aged CLOSE_WAIT sockets', 'CLOSE_WAIT sockets older than each configured age threshold (close_wait.age_thresholds), per instance.', 'short', [
        lib.target(q('sum by (%(i)s, older_than_seconds) (tcpstate_close_wait_aged_sockets{%(selPod)s, process=~"$process", port=~"$port"})'), 'older than {{older_than_seconds}} s @ {{instance}}'),
      ], [12, 30, 12, 8]),
      lib.timeseries('Sockets of the selected processes by state', "All sockets of the selected processes per state (tcpstate_process_sockets; the states are those of processes.states in the exporter configuration). Compare CLOSE_WAIT with ESTABLISHED to see how much of the process's socket use is leaked.", 'short', [
        lib.target(q('sum by (%(i)s, process, state) (tcpstate_process_sockets{%(selPod)s, process=~"$process"})'), '{{process}} {{state}} @ {{instance}}'),
      ], [0, 38, 24, 8]),
      // Per pod (namespaces.mode all): series of the node's own namespace have no pod_name and
      // are left out here (pod_name!=""); they are in the panels above.
      lib.bargauge('Top pods by CLOSE_WAIT', 'The 10 pods (pod_namespace/pod_name) holding the most CLOSE_WAIT sockets, all processes and ports of the pod. The namespace tells which team owns the leak; the CLOSE_WAIT per pod table below names the process and port.', 'short', [
        lib.target(q('topk(10, sum by (%(cluster)s, pod_namespace, pod_name) (tcpstate_close_wait_sockets{%(selPod)s, process=~"$process", port=~"$port", pod_name!=""}))'), '{{pod_namespace}}/{{pod_name}}', instant=true),
      ], [0, 46, 12, 9]) + { fieldConfig+: { defaults+: { thresholds: lib.thresholds([['green', null], ['orange', 100], ['red', c.closeWaitHigh.threshold]]) } } },
      lib.bargauge('Pods with the oldest CLOSE_WAIT', 'The 10 pods whose oldest CLOSE_WAIT socket is oldest (red from the TcpstateCloseWaitLingering threshold). An old socket is a leak even when the count is small.', 's', [
        lib.target(q('topk(10, max by (%(cluster)s, pod_namespace, pod_name) (tcpstate_close_wait_oldest_age_seconds{%(selPod)s, process=~"$process", port=~"$port", pod_name!=""}))'), '{{pod_namespace}}/{{pod_name}}', instant=true),
      ], [12, 46, 12, 9]) + { fieldConfig+: { defaults+: { thresholds: lib.thresholds([['green', null], ['orange', c.closeWaitLingering.thresholdSeconds / 3], ['red', c.closeWaitLingering.thresholdSeconds]]) } } },
      lib.table('CLOSE_WAIT per pod', "Every pod, process, direction and port with CLOSE_WAIT sockets: count and age of the oldest. The instance is the node; investigate with the runbook's pod steps (kubectl, nsenter -n -t PID ss -tanp state close-wait).", 'short', [
        lib.target(q('sum by (%(cluster)s, instance, pod_namespace, pod_name, process, direction, port) (tcpstate_close_wait_sockets{%(selPod)s, process=~"$process", port=~"$port", pod_name!=""})'), '__auto', instant=true, table=true),
        lib.target(q('max by (%(cluster)s, instance, pod_namespace, pod_name, process, direction, port) (tcpstate_close_wait_oldest_age_seconds{%(selPod)s, process=~"$process", port=~"$port", pod_name!=""})'), '__auto', instant=true, table=true),
      ], [0, 55, 24, 9], rename={ 'Value #A': 'CLOSE_WAIT', 'Value #B': 'oldest age' }) + {
        fieldConfig+: { overrides: [{ matcher: { id: 'byName', options: 'oldest age' }, properties: [{ id: 'unit', value: 's' }] }] },
        options+: { sortBy: [{ displayName: 'CLOSE_WAIT', desc: true }] },
      },
      lib.timeseries('CLOSE_WAIT per pod', "CLOSE_WAIT sockets per pod over time. A pod's line that only rises is a leak; a restart of the pod (a new pod_name) starts a new line.", 'short', [
        lib.target(q('sum by (%(cluster)s, pod_namespace, pod_name) (tcpstate_close_wait_sockets{%(selPod)s, process=~"$process", port=~"$port", pod_name!=""}) > 0'), '{{pod_namespace}}/{{pod_name}}'),
      ], [0, 64, 24, 8]),
      // File descriptors of the socket owners: where a CLOSE_WAIT leak ends.
      lib.timeseries('Open fds vs limit', 'Open file descriptors of the selected processes (tcpstate_process_open_fds) and their soft RLIMIT_NOFILE (dashed). At the limit every open(), accept() and socket() fails with "Too many open files"; a CLOSE_WAIT leak climbs toward it.', 'short', [
        lib.target(q('max by (%(ji)s, netns, process) (tcpstate_process_open_fds{%(selPod)s, process=~"$process"})'), '{{process}} @ {{instance}} open fds'),
        lib.target(q('max by (%(ji)s, netns, process) (tcpstate_process_max_fds{%(selPod)s, process=~"$process"})'), '{{process}} @ {{instance}} limit'),
      ], [0, 72, 12, 8]) + { fieldConfig+: { overrides: [{ matcher: { id: 'byRegexp', options: '/limit$/' }, properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }, { id: 'custom.fillOpacity', value: 0 }] }] } },
      lib.timeseries('Fd usage of the limit', 'Open fds as a share of the soft RLIMIT_NOFILE per process, the 15 highest (TcpstateFdUsageHigh fires above the dashed level; TcpstateFdExhaustionForecast when the 1h trend reaches 100% within 4h).', 'percentunit', [
        lib.target(q('topk(15, max by (%(ji)s, netns, process) (instance_process:tcpstate_fd_usage:ratio{%(selPod)s, process=~"$process"}))'), '{{process}} @ {{instance}}'),
      ], [12, 72, 12, 8]) + { fieldConfig+: { defaults+: {
        min: 0,
        custom+: { thresholdsStyle: { mode: 'dashed' } },
        thresholds: lib.thresholds([['green', null], ['orange', c.fdUsage.threshold]]),
      } } },
      // Issue 13: why the sockets are there (docs/metrics.md, label cause).
      lib.timeseries('CLOSE_WAIT by cause', "CLOSE_WAIT sockets per cause: not_closed (the application read the EOF and never called close(): a leak in its code), not_reading (it has not read the socket since the peer closed: a stuck reader or a pool that never polls idle connections), not_accepted (never taken from the listener's accept queue: the server is overloaded or its accept loop is stuck, capacity rather than a leak; process (none), the listening port).", 'short', [
        lib.target(q('sum by (%(i)s, cause) (tcpstate_close_wait_sockets{%(selPod)s, process=~"$process", port=~"$port"}) > 0'), '{{cause}} @ {{instance}}'),
      ], [0, 80, 24, 8]),
    ]),
  },
}
