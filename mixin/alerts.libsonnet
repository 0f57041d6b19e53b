// Alerting rules. One alert name per condition: warning and critical differ only in the
// severity label, so an inhibit rule with equal: [alertname, ...] mutes the warning.
// Thresholds, windows and `for` durations come from _config (config.libsonnet).
local labels = import 'lib/labels.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local L = labels.new(c),
    local runbook(name) = c.runbookURLPattern % std.asciiLower(name),
    // A: every alert's annotations get the runbook link of its name.
    local alert(name, severity, expr, annotations, forDuration=null, comment=null) =
      { alert: name, expr: expr }
      + (if forDuration == null then {} else { 'for': forDuration })
      + { labels: { severity: severity } }
      + { annotations: annotations { runbook_url: runbook(name) } }
      + (if comment == null then {} else { comment:: comment }),
    // CLOSE_WAIT alerts: the exporter's /close_wait page for the process, where the remote
    // addresses and pids are (README, "CLOSE_WAIT hunt").
    local closeWaitPage = { close_wait_page: (c.exporterURLPattern % '{{ $labels.instance }}') + '/close_wait?process={{ $labels.process | urlquery }}' },
    // Template context: L plus the pod and cluster fragments under short names.
    local T = L { P: L.inPod, C: L.inCluster },

    groups+: [
      {
        name: 'tcpstate-close-wait',
        rules: [
          alert(
            'TcpstateCloseWaitGrowing',
            'warning',
            labels.fmt(|||
              instance_process_port:tcpstate_close_wait_sockets:sum > %(threshold)s
              and
              deriv(instance_process_port:tcpstate_close_wait_sockets:sum[%(window)s]) > 0
            |||, labels.nums(c.closeWaitGrowing)),
            {
              summary: labels.fmt('CLOSE_WAIT keeps growing for {{ $labels.process }} on {{ $labels.instance }}%(P)s%(C)s ({{ $labels.direction }} port {{ $labels.port }}): {{ $value | humanize }} sockets', T),
              description: labels.fmt('The number of CLOSE_WAIT sockets owned by {{ $labels.process }} ({{ $labels.direction }} port {{ $labels.port }}) on {{ $labels.instance }}%(P)s%(C)s has kept rising over the alert window and is now {{ $value | humanize }}. The peers closed these connections but the application never called close(): a socket leak in the application, not a kernel problem.', T),
            } + closeWaitPage,
            c.closeWaitGrowing['for'],
          ),
          alert(
            'TcpstateCloseWaitHigh',
            'critical',
            labels.fmt(|||
              instance_process_port:tcpstate_close_wait_sockets:sum > %(threshold)s
            |||, labels.nums(c.closeWaitHigh)),
            {
              summary: labels.fmt('{{ $value | humanize }} CLOSE_WAIT sockets held by {{ $labels.process }} on {{ $labels.instance }}%(P)s%(C)s ({{ $labels.direction }} port {{ $labels.port }})', T),
              description: labels.fmt('{{ $labels.process }} on {{ $labels.instance }}%(P)s%(C)s holds {{ $value | humanize }} CLOSE_WAIT sockets for {{ $labels.direction }} port {{ $labels.port }}. Each one keeps a file descriptor open; the process is heading for "Too many open files". Restarting it frees them for now; the fix is in its code.', T),
            } + closeWaitPage,
            c.closeWaitHigh['for'],
          ),
          alert(
            'TcpstateCloseWaitLingering',
            'warning',
            labels.fmt(|||
              instance_process_port:tcpstate_close_wait_oldest_age_seconds:max > %(thresholdSeconds)s
            |||, labels.nums(c.closeWaitLingering)),
            {
              summary: labels.fmt('{{ $labels.process }} on {{ $labels.instance }}%(P)s%(C)s has a CLOSE_WAIT socket {{ $value | humanizeDuration }} old ({{ $labels.direction }} port {{ $labels.port }})', T),
              description: labels.fmt('The oldest CLOSE_WAIT socket of {{ $labels.process }} ({{ $labels.direction }} port {{ $labels.port }}) on {{ $labels.instance }}%(P)s%(C)s has waited {{ $value | humanizeDuration }} for the application to close it. A healthy application closes within milliseconds; this is a leak even when the count is small.', T),
            } + closeWaitPage,
            c.closeWaitLingering['for'],
          ),
        ],
      },
      {
        name: 'tcpstate-time-wait-and-ports',
        rules: [
          alert(
            'TcpstateTimeWaitBuckets',
            'warning',
            labels.fmt(|||
              instance:tcpstate_time_wait_bucket_usage:ratio > %(threshold)s
            |||, labels.nums(c.timeWaitBuckets.warning)),
            {
              summary: labels.fmt('TIME_WAIT sockets on {{ $labels.instance }}%(P)s%(C)s use {{ $value | humanizePercentage }} of net.ipv4.tcp_max_tw_buckets', T),
              description: labels.fmt('{{ $labels.instance }}%(P)s%(C)s holds TIME_WAIT sockets amounting to {{ $value | humanizePercentage }} of net.ipv4.tcp_max_tw_buckets. Past the limit the kernel destroys new TIME_WAIT sockets at once and logs "time wait bucket table overflow". Look for short-lived connections that should be kept alive or pooled.', T),
            },
            c.timeWaitBuckets.warning['for'],
          ),
          alert(
            'TcpstateTimeWaitBuckets',
            'critical',
            labels.fmt(|||
              instance:tcpstate_time_wait_bucket_usage:ratio > %(threshold)s
            |||, labels.nums(c.timeWaitBuckets.critical)),
            {
              summary: labels.fmt('TIME_WAIT sockets on {{ $labels.instance }}%(P)s%(C)s use {{ $value | humanizePercentage }} of net.ipv4.tcp_max_tw_buckets', T),
              description: labels.fmt('{{ $labels.instance }}%(P)s%(C)s is about to exhaust net.ipv4.tcp_max_tw_buckets ({{ $value | humanizePercentage }} used). Connections closed from now on lose their TIME_WAIT protection.', T),
            },
            c.timeWaitBuckets.critical['for'],
          ),
          alert(
            'TcpstateTimeWaitOverflow',
            'warning',
            labels.fmt(|||
              increase(tcpstate_tcpext_time_wait_overflow_total[%(window)s]) > 0
            |||, labels.nums(c.timeWaitOverflow)),
            {
              summary: labels.fmt('The kernel on {{ $labels.instance }}%(C)s is dropping TIME_WAIT sockets: {{ $value | humanize }} in the alert window (tcp_max_tw_buckets reached)', T),
              description: labels.fmt('TcpExt TCPTimeWaitOverflow rose on {{ $labels.instance }}%(C)s: the TIME_WAIT table is full and the kernel closes sockets without TIME_WAIT ("time wait bucket table overflow" in the kernel log).', T),
            },
          ),
          alert(
            'TcpstateEphemeralPortExhaustion',
            'warning',
            labels.fmt(|||
              instance_port:tcpstate_outbound_local_ports:ratio > %(threshold)s
            |||, labels.nums(c.ephemeralPortExhaustion.warning)),
            {
              summary: 'Outbound connections from {{ $labels.instance }} to one destination on port {{ $labels.port }} use {{ $value | humanizePercentage }} of the ephemeral port range',
              description: labels.fmt('The busiest destination on remote port {{ $labels.port }} holds local ports amounting to {{ $value | humanizePercentage }} of net.ipv4.ip_local_port_range on {{ $labels.instance }}%(P)s%(C)s. When it reaches 100%% connect() fails with EADDRNOTAVAIL ("Cannot assign requested address").', T),
            },
            c.ephemeralPortExhaustion.warning['for'],
          ),
          alert(
            'TcpstateEphemeralPortExhaustion',
            'critical',
            labels.fmt(|||
              instance_port:tcpstate_outbound_local_ports:ratio > %(threshold)s
            |||, labels.nums(c.ephemeralPortExhaustion.critical)),
            {
              summary: 'Outbound connections from {{ $labels.instance }} to one destination on port {{ $labels.port }} use {{ $value | humanizePercentage }} of the ephemeral port range',
              description: labels.fmt('The busiest destination on remote port {{ $labels.port }} holds local ports amounting to {{ $value | humanizePercentage }} of net.ipv4.ip_local_port_range on {{ $labels.instance }}%(P)s%(C)s. When it reaches 100%% connect() fails with EADDRNOTAVAIL ("Cannot assign requested address").', T),
            },
            c.ephemeralPortExhaustion.critical['for'],
          ),
          alert(
            'TcpstateAcceptQueueNearFull',
            'warning',
            labels.fmt(|||
              instance_port:tcpstate_listen_queue:ratio > %(threshold)s
            |||, labels.nums(c.acceptQueueNearFull)),
            {
              summary: labels.fmt('Accept queue of port {{ $labels.port }} on {{ $labels.instance }}%(C)s is {{ $value | humanizePercentage }} full', T),
              description: labels.fmt('Connections to port {{ $labels.port }} on {{ $labels.instance }}%(C)s complete the handshake faster than the application calls accept(): the accept queue is at {{ $value | humanizePercentage }} of its backlog. When it is full the kernel drops new connections (ListenOverflows).', T),
            },
            c.acceptQueueNearFull['for'],
          ),
          alert(
            'TcpstateListenOverflows',
            'warning',
            labels.fmt(|||
              increase(tcpstate_tcpext_listen_overflows_total[%(window)s]) > 0
            |||, labels.nums(c.listenOverflows)),
            {
              summary: '{{ $labels.instance }} is dropping connections because an accept queue is full: {{ $value | humanize }} in the alert window',
              description: labels.fmt("TcpExt ListenOverflows rose on {{ $labels.instance }}%(C)s: a listening socket's accept queue was full and the kernel dropped the completed handshake. Clients see connect timeouts or retransmitted SYNs.", T),
            },
          ),
        ],
      },
      {
        name: 'tcpstate-exporter',
        rules: [
          alert(
            'TcpstateExporterDown',
            'critical',
            labels.fmt(|||
              up{%(tcpstate)s} == 0
            |||, L),
            {
              summary: labels.fmt('tcpstate_exporter on {{ $labels.instance }}%(C)s cannot be scraped', T),
              description: 'Prometheus keeps failing to scrape {{ $labels.instance }} (job {{ $labels.job }}). No TCP state alert can fire for this host until it is back.',
            },
            c.exporterDown['for'],
            comment='The alerts on `up` select the scrape job (_config.tcpstateSelector): `up` carries\nnothing else to tell the exporter apart.',
          ),
          alert(
            'TcpstateExporterAbsent',
            'critical',
            labels.fmt(|||
              absent(up{%(tcpstate)s})
            |||, L),
            {
              summary: 'No tcpstate_exporter target is known to Prometheus',
              description: labels.fmt('Prometheus has no target matching up{%(tcpstate)s}: service discovery finds no exporter (DaemonSet deleted, relabelling or scrape configuration changed). No TCP state alert can fire.', L),
            },
            c.exporterAbsent['for'],
            comment='No tcpstate_exporter target at all (service discovery lost it, the DaemonSet was\ndeleted): `up` itself is gone, so TcpstateExporterDown cannot fire.',
          ),
          alert(
            'TcpstateExporterTargetsMissing',
            'warning',
            labels.fmt(|||
              count by (%(cluster)s) (kube_node_info%(ksmSel)s)
              -
              (count by (%(cluster)s) (up{%(tcpstate)s} == 1) or count by (%(cluster)s) (kube_node_info%(ksmSel)s) * 0)
              > 0
            |||, (L { ksmSel: if c.kubeStateMetricsSelector == '' then '' else '{%s}' % c.kubeStateMetricsSelector })),
            {
              summary: labels.fmt('{{ $value | humanize }} node(s)%(ofCluster)s have no healthy tcpstate_exporter target', L),
              description: labels.fmt("Fewer tcpstate_exporter targets are up than kube-state-metrics reports nodes%(inClusterPlain)s: {{ $value | humanize }} node(s) are not watched. Check the DaemonSet's desired and ready pods.", L),
            },
            c.exporterTargetsMissing['for'],
            comment="Fewer healthy exporter targets than nodes (kube-state-metrics' kube_node_info), per\ncluster: a DaemonSet pod that is not scheduled, pending or crash-looping leaves its node\nunwatched. A cluster without kube_node_info does not take part.",
          ),
          alert(
            'TcpstateExporterPollsFailing',
            'warning',
            |||
              tcpstate_last_poll_success == 0
            |||,
            {
              summary: labels.fmt('tcpstate_exporter on {{ $labels.instance }}%(C)s keeps failing to poll the socket table', T),
              description: labels.fmt('The latest polls of tcpstate_exporter on {{ $labels.instance }}%(C)s failed; its socket metrics still show the last successful poll. Check the exporter log and tcpstate_netlink_errors_total.', T),
            },
            c.exporterPollsFailing['for'],
          ),
          alert(
            'TcpstateExporterSourceDown',
            'warning',
            |||
              (tcpstate_source_up{source!="process"} == 0)
              or
              (
                tcpstate_source_up{source="process"} == 0
                unless ignoring (source)
                tcpstate_process_attribution_available == 0
              )
            |||,
            {
              summary: labels.fmt('tcpstate_exporter on {{ $labels.instance }}%(C)s cannot read its {{ $labels.source }} source', T),
              description: labels.fmt('The {{ $labels.source }} data source of tcpstate_exporter on {{ $labels.instance }}%(C)s keeps failing in every poll; the metrics it feeds are stale or missing.', T),
            },
            c.exporterSourceDown['for'],
            comment='The `process` source is not reported while TcpstateProcessAttributionUnavailable\nexplains it.',
          ),
          alert(
            'TcpstateExporterDataStale',
            'warning',
            labels.fmt(|||
              time() - tcpstate_last_poll_success_timestamp_seconds > %(thresholdSeconds)s
            |||, labels.nums(c.exporterDataStale)),
            {
              summary: labels.fmt('Socket data of tcpstate_exporter on {{ $labels.instance }}%(C)s is {{ $value | humanizeDuration }} old', T),
              description: labels.fmt('The last successful poll of tcpstate_exporter on {{ $labels.instance }}%(C)s was {{ $value | humanizeDuration }} ago. Dashboards and alerts for this host are looking at old data.', T),
            },
            c.exporterDataStale['for'],
          ),
          alert(
            'TcpstateProcessAttributionUnavailable',
            'warning',
            |||
              tcpstate_process_attribution_available == 0
            |||,
            {
              summary: labels.fmt('tcpstate_exporter on {{ $labels.instance }}%(C)s cannot attribute sockets to processes', T),
              description: labels.fmt('tcpstate_exporter on {{ $labels.instance }}%(C)s lacks the privileges to read other processes\' file descriptors (CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE): owned sockets show up as process "(unknown)" and CLOSE_WAIT alerts cannot name the leaking process.', T),
            },
            c.processAttributionUnavailable['for'],
          ),
          alert(
            'TcpstateExporterConfigReloadFailed',
            'warning',
            |||
              tcpstate_config_last_reload_successful == 0
            |||,
            {
              summary: labels.fmt('tcpstate_exporter on {{ $labels.instance }}%(C)s rejected its last configuration reload', T),
              description: labels.fmt("The last SIGHUP reload of tcpstate_exporter on {{ $labels.instance }}%(C)s failed{{ with printf `tcpstate_config_last_reload_failure_info{job='%%s',instance='%%s'}` $labels.job $labels.instance | query }}{{ range . }} ({{ .Labels.file }} file: {{ .Labels.reason }}{{ with .Labels.key }} at key {{ . }}{{ end }}){{ end }}{{ end }}; it still runs with the previous configuration. tcpstate_config_last_reload_failure_info and the exporter log say why.", T),
            },
            c.exporterConfigReloadFailed['for'],
          ),
          alert(
            'TcpstateSeriesFolded',
            'info',
            |||
              tcpstate_folded_series > 0
            |||,
            {
              summary: labels.fmt('tcpstate_exporter on {{ $labels.instance }}%(C)s folds {{ $value | humanize }} {{ $labels.cap }} label values into other', T),
              description: labels.fmt('The {{ $labels.cap }} cardinality cap of tcpstate_exporter on {{ $labels.instance }}%(C)s keeps folding {{ $value | humanize }} distinct values into "other" / "(other)"; sockets of those values are counted but cannot be told apart.', T),
            },
            c.seriesFolded['for'],
          ),
        ],
      },
    ],
  },
}
