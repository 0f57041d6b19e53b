// Dashboard "exporter-health": the exporter's own health: polls, sources, attribution, errors.
// Queries go through q(): %(sel)s etc. come from _queryContext (dashboards.libsonnet).
local labels = import '../lib/labels.libsonnet';
local lib = import 'lib.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local q(s) = labels.fmt(s, $._queryContext),
    'exporter-health.json': lib.dashboard(c, 'exporter-health', 'Exporter health', 'Is tcpstate_exporter polling, how long it takes, what attribution costs and what fails.', lib.targetVariables(c) + [
    ], [
      lib.stat('Data age', 'Seconds since the latest successful poll per instance (alert above 300 s).', 's', [
        lib.target(q('time() - tcpstate_last_poll_success_timestamp_seconds{%(sel)s}'), '{{instance}}'),
      ], [0, 0, 6, 4]) + { fieldConfig+: { defaults+: { thresholds+: { steps: [{ color: 'green', value: null }, { color: 'orange', value: 120 }, { color: 'red', value: c.exporterDataStale.thresholdSeconds }] } } } },
      lib.stat('Latest poll succeeded', 'tcpstate_last_poll_success per instance.', 'none', [
        lib.target(q('tcpstate_last_poll_success{%(sel)s}'), '{{instance}}'),
      ], [6, 0, 6, 4]) + { fieldConfig+: { defaults+: { thresholds+: { steps: [{ color: 'red', value: null }, { color: 'green', value: 1 }] }, mappings: [{ type: 'value', options: { '0': { text: 'no', color: 'red', index: 0 }, '1': { text: 'yes', color: 'green', index: 1 } } }] } }, options+: { graphMode: 'none' } },
      lib.stat('Process attribution available', "0 when the exporter lacks CAP_DAC_READ_SEARCH / CAP_SYS_PTRACE to read other processes' fds.", 'none', [
        lib.target(q('tcpstate_process_attribution_available{%(sel)s}'), '{{instance}}'),
      ], [12, 0, 6, 4]) + { fieldConfig+: { defaults+: { thresholds+: { steps: [{ color: 'red', value: null }, { color: 'green', value: 1 }] }, mappings: [{ type: 'value', options: { '0': { text: 'no', color: 'red', index: 0 }, '1': { text: 'yes', color: 'green', index: 1 } } }] } }, options+: { graphMode: 'none' } },
      lib.stat('Config reload successful', '0 after a rejected SIGHUP reload.', 'none', [
        lib.target(q('tcpstate_config_last_reload_successful{%(sel)s}'), '{{instance}}'),
      ], [18, 0, 6, 4]) + { fieldConfig+: { defaults+: { thresholds+: { steps: [{ color: 'red', value: null }, { color: 'green', value: 1 }] }, mappings: [{ type: 'value', options: { '0': { text: 'no', color: 'red', index: 0 }, '1': { text: 'yes', color: 'green', index: 1 } } }] } }, options+: { graphMode: 'none' } },
      lib.timeseries('Poll duration', 'Wall time of the latest poll per instance.', 's', [
        lib.target(q('tcpstate_poll_duration_seconds{%(sel)s}'), '{{instance}}'),
      ], [0, 4, 12, 8]),
      lib.timeseries('Polls per second by result', 'Polls run per second, successful and failed.', 'cps', [
        lib.target(q('sum by (%(i)s, result) (rate(tcpstate_polls_total{%(sel)s}[$__rate_interval]))'), '{{instance}} {{result}}'),
      ], [12, 4, 12, 8]),
      lib.stateTimeline('Sources up', 'Whether each data source (sock_diag, process, sysctl, netstat) worked in the latest poll.', 'none', [
        lib.target(q('tcpstate_source_up{%(sel)s}'), '{{instance}} {{source}}'),
      ], [0, 12, 12, 8]) + { fieldConfig+: { defaults+: { thresholds: { mode: 'absolute', steps: [{ color: 'red', value: null }, { color: 'green', value: 1 }] }, mappings: [{ type: 'value', options: { '0': { text: 'down', color: 'red', index: 0 }, '1': { text: 'up', color: 'green', index: 1 } } }] } } },
      lib.timeseries('Source duration', 'Time the latest poll spent in each data source.', 's', [
        lib.target(q('tcpstate_source_duration_seconds{%(sel)s}'), '{{instance}} {{source}}'),
      ], [12, 12, 12, 8]),
      lib.timeseries('Data age', 'Seconds since the latest successful poll (alert above 300 s, dashed).', 's', [
        lib.target(q('time() - tcpstate_last_poll_success_timestamp_seconds{%(sel)s}'), '{{instance}}'),
      ], [0, 20, 12, 8]) + { fieldConfig+: { defaults+: { custom+: { thresholdsStyle+: { mode: 'line+area' } }, thresholds+: { steps: [{ color: 'green', value: null }, { color: 'red', value: c.exporterDataStale.thresholdSeconds }] } } } },
      lib.timeseries('Sockets per poll', 'Sockets seen by the latest successful poll.', 'short', [
        lib.target(q('tcpstate_poll_sockets{%(sel)s}'), '{{instance}}'),
      ], [12, 20, 12, 8]),
      lib.timeseries('Attribution: fd links read', 'fd links read per second to map sockets to processes: the cost of process attribution (flat when nothing changes).', 'cps', [
        lib.target(q('rate(tcpstate_process_attribution_fds_read_total{%(sel)s}[$__rate_interval])'), '{{instance}}'),
      ], [0, 28, 8, 8]),
      lib.timeseries('Attribution: /proc scans', 'Partial and full /proc scans per second run to resolve unknown socket owners.', 'cps', [
        lib.target(q('sum by (%(i)s, kind) (rate(tcpstate_process_attribution_scans_total{%(sel)s}[$__rate_interval]))'), '{{instance}} {{kind}}'),
      ], [8, 28, 8, 8]),
      lib.timeseries('Attribution errors', 'Per-process read failures per second during attribution: vanished (process exited), permission, io.', 'cps', [
        lib.target(q('sum by (%(i)s, reason) (rate(tcpstate_process_attribution_errors_total{%(sel)s}[$__rate_interval]))'), '{{instance}} {{reason}}'),
      ], [16, 28, 8, 8]),
      lib.timeseries('Netlink errors and dump retries', 'Failed netlink dumps per second by reason, and dumps restarted because the kernel flagged NLM_F_DUMP_INTR (retries are normal under churn).', 'cps', [
        lib.target(q('sum by (%(i)s, reason) (rate(tcpstate_netlink_errors_total{%(sel)s}[$__rate_interval]))'), '{{instance}} {{reason}}'),
        lib.target(q('rate(tcpstate_netlink_dump_retries_total{%(sel)s}[$__rate_interval])'), '{{instance}} dump retries'),
      ], [0, 36, 12, 8]),
      lib.timeseries('Folded series', 'Distinct port or process values folded into other / (other) by a cardinality cap in the latest poll.', 'short', [
        lib.target(q('tcpstate_folded_series{%(sel)s}'), '{{instance}} {{cap}}'),
      ], [12, 36, 12, 8]),
      lib.table('Build info', 'Version, revision and compiler of each exporter.', 'none', [
        lib.target(q('tcpstate_build_info{%(sel)s}'), '__auto', instant=true, table=true),
      ], [0, 44, 24, 6]) + { transformations: [{ id: 'merge', options: {} }, { id: 'organize', options: { excludeByName: { Time: true, Value: true, __name__: true }, indexByName: {}, renameByName: {} } }] },
      lib.timeseries('Exporter memory (RSS) vs limit', "The exporter's resident memory per instance (process_resident_memory_bytes); dashed: the DaemonSet's memory limit (exporterMemoryLimitBytes in the mixin config), where the kubelet OOM-kills it.", 'bytes', [
        lib.target(q('process_resident_memory_bytes{%(sel)s}'), '{{instance}}'),
      ], [0, 50, 8, 8]) + { fieldConfig+: { defaults+: { custom+: { thresholdsStyle+: { mode: 'dashed' } }, thresholds+: { steps: [{ color: 'green', value: null }, { color: 'red', value: c.exporterMemoryLimitBytes }] } } } },
      lib.timeseries('Exporter CPU vs limit', "CPU the exporter uses per instance, cores (rate of process_cpu_seconds_total); dashed: the DaemonSet's CPU limit (exporterCPULimitCores), beyond which it is throttled.", 'none', [
        lib.target(q('rate(process_cpu_seconds_total{%(sel)s}[$__rate_interval])'), '{{instance}}'),
      ], [8, 50, 8, 8]) + { fieldConfig+: { defaults+: { custom+: { thresholdsStyle+: { mode: 'dashed' } }, thresholds+: { steps: [{ color: 'green', value: null }, { color: 'red', value: c.exporterCPULimitCores }] } } } },
      lib.timeseries('Exporter open file descriptors', 'Open file descriptors per instance (process_open_fds) and the soft limit (process_max_fds).', 'short', [
        lib.target(q('process_open_fds{%(sel)s}'), '{{instance}} open'),
        lib.target(q('process_max_fds{%(sel)s}'), '{{instance}} max'),
      ], [16, 50, 8, 8]),
    ]),
  },
}
