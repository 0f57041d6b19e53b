// Configuration of the tcpstate_exporter mixin (kubernetes-mixin / node-mixin style).
//
// Override any key with `(import 'mixin.libsonnet') + { _config+:: { ... } }`, or without
// writing jsonnet: mixin/generate.sh --config '{ clusterLabel: "k8s_cluster" }' --out DIR.
// The files committed in the repository are rendered with these defaults (mixin/generate.sh).
{
  _config+:: {
    // Selector of the exporter's scrape job. Only the alerts on `up` (TcpstateExporterDown,
    // TcpstateExporterAbsent, TcpstateExporterTargetsMissing) need it: every other rule works
    // on tcpstate_* metrics whatever the job is called. The ServiceMonitor of
    // deploy/kubernetes/prometheus-operator yields job="tcpstate_exporter".
    tcpstateSelector: 'job="tcpstate_exporter"',

    // Selector added to kube-state-metrics' kube_pod_info / kube_node_info (e.g.
    // 'job="kube-state-metrics"'); empty = any job.
    kubeStateMetricsSelector: '',

    // The label that tells clusters apart in a Prometheus, Thanos or Mimir ruler that sees
    // several of them (an external label or a target label). Every aggregation and join keeps
    // it; annotations name it when present; dashboards filter on it ($cluster). In a single
    // cluster set-up the label is simply absent and nothing changes.
    clusterLabel: 'cluster',

    // The labels the exporter adds with namespaces.mode: all (docs/metrics.md). netns is on
    // every socket, kernel-limit and TcpExt series; the pod labels only on pods' namespaces.
    netnsLabel: 'netns',
    podLabels: ['pod_uid', 'pod_namespace', 'pod_name'],

    // Alert annotations link here; %s is the alert name in lower case (the heading anchor of
    // docs/runbook.md).
    runbookURLPattern: 'https://github.com/tcpstate/tcpstate_exporter/blob/main/docs/runbook.md#%s',

    // The exporter's own URL for an instance (%s: the instance as a template of the alert or
    // dashboard that links it): CLOSE_WAIT alerts carry a link to its /close_wait page
    // (annotation close_wait_page) and CLOSE_WAIT dashboard panels a data link. Behind an
    // https endpoint or a proxy, e.g. 'https://%s' or 'https://tcpstate.example/%s'.
    exporterURLPattern: 'http://%s',

    // Thresholds, windows and `for` durations. Every comparison is strict: a value exactly at
    // the threshold does not fire.
    closeWaitGrowing: { threshold: 10, window: '30m', 'for': '15m' },
    closeWaitHigh: { threshold: 1000, 'for': '10m' },
    closeWaitLingering: { thresholdSeconds: 1800, 'for': '5m' },
    timeWaitBuckets: {
      warning: { threshold: 0.8, 'for': '10m' },
      critical: { threshold: 0.95, 'for': '5m' },
    },
    timeWaitOverflow: { window: '5m' },
    ephemeralPortExhaustion: {
      warning: { threshold: 0.7, 'for': '10m' },
      critical: { threshold: 0.9, 'for': '5m' },
    },
    acceptQueueNearFull: { threshold: 0.8, 'for': '5m' },
    listenOverflows: { window: '5m' },
    // Per listening port (tcpstate_listen_drops_total): fires when the port's listeners dropped
    // more than `threshold` connections over `window`.
    listenDropsPerPort: { threshold: 0, window: '5m' },
    // TCP memory in use as a fraction of net.ipv4.tcp_mem's pressure threshold: warns before
    // the kernel starts shrinking buffers.
    tcpMemoryPressure: { threshold: 0.8, 'for': '5m' },
    exporterDown: { 'for': '5m' },
    exporterAbsent: { 'for': '15m' },
    exporterTargetsMissing: { 'for': '15m' },
    exporterPollsFailing: { 'for': '5m' },
    exporterSourceDown: { 'for': '10m' },
    exporterDataStale: { thresholdSeconds: 300, 'for': '1m' },
    processAttributionUnavailable: { 'for': '15m' },
    exporterConfigReloadFailed: { 'for': '5m' },
    seriesFolded: { 'for': '1h' },
    // Open fds of a socket-owning process as a fraction of its soft RLIMIT_NOFILE, and the
    // forecast (predict_linear over `window`, `horizonHours` ahead) that it reaches the limit.
    fdUsage: { threshold: 0.8, 'for': '10m' },
    fdExhaustionForecast: { window: '1h', horizonHours: 4, 'for': '15m', closeWaitWindow: '30m' },
    // The window of rate(tcpstate_tcp_active_opens_total) that TIME_WAIT alert descriptions quote
    // as "N new outbound connections/s".
    connectionChurnWindow: '5m',

    // Grafana dashboards.
    dashboardUIDPrefix: 'tcpstate-',
    dashboardTitlePrefix: 'tcpstate / ',
    dashboardTags: ['tcpstate', 'tcp'],
    dashboardRefresh: '1m',
    dashboardTimeFrom: 'now-6h',
    // The metric whose label values fill the cluster, job and instance variables.
    dashboardInfoMetric: 'tcpstate_build_info',
    // The exporter's own limits, drawn as dashed lines on the exporter-health memory and CPU
    // panels: the DaemonSet's (deploy/kubernetes/base/daemonset.yaml) memory limit, bytes,
    // and CPU limit, cores. Set them to yours.
    exporterMemoryLimitBytes: 128 * 1024 * 1024,
    exporterCPULimitCores: 0.2,
  },
}
