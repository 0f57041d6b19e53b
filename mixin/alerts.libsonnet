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
    local T = L { P: L.inPod, C: L.inCluster, W: causes, WHY: whyText },
    // Annotation queries select the alert's own series: job, instance, network namespace and
    // cluster (%q-quoted; a missing label gives "", which matches its absence).
    local Q = {
      netns: c.netnsLabel,
      cluster: c.clusterLabel,
      sel: 'job=%[1]q,instance=%[2]q,' + c.netnsLabel + '=%[3]q,' + c.clusterLabel + '=%[4]q',
      args: '$labels.job $labels.instance (index $labels "%s") (index $labels "%s")' % [c.netnsLabel, c.clusterLabel],
    },
    // " N new outbound connections/s ..." for the TIME_WAIT alerts: the churn that fills it.
    local churn = labels.fmt('{{ with printf `sum(rate(tcpstate_tcp_active_opens_total{%(sel)s}[%(window)s]))` %(args)s | query }}{{ range . }} The namespace opens {{ .Value | humanize }} new outbound connections/s (rate of tcpstate_tcp_active_opens_total); each one this side closes first stays in TIME_WAIT for 60 s.{{ end }}{{ end }}', Q { window: c.connectionChurnWindow }),
    // " Its CLOSE_WAIT sockets are growing too ..." for the fd alerts, when they are.
    local closeWaitToo = labels.fmt('{{ with printf `sum(instance_process_port:tcpstate_close_wait_sockets:sum{%(sel)s,process=%%[5]q} and deriv(instance_process_port:tcpstate_close_wait_sockets:sum{%(sel)s,process=%%[5]q}[%(window)s]) > 0)` %(args)s $labels.process | query }}{{ range . }} Its CLOSE_WAIT sockets are growing too, {{ .Value | humanize }} now: a CLOSE_WAIT leak (TcpstateCloseWaitGrowing) is what holds these fds.{{ end }}{{ end }}', Q { window: c.fdExhaustionForecast.closeWaitWindow }),
    // " (N of M)" open and max fds of the alert's process.
    local fdFigures = labels.fmt('{{ with printf `tcpstate_process_max_fds{%(sel)s,process=%%[5]q,pid=%%[6]q}` %(args)s $labels.process (index $labels "pid") | query }}{{ range . }} (limit {{ .Value | humanize }}){{ end }}{{ end }}', Q),
    // The alert's CLOSE_WAIT group per cause ("not_reading 12, not_closed 3, "), queried
    // when the annotation is rendered: the alerts fire on the whole group (thresholds stay
    // per group), the description says why. Absent labels match as "" (absent).
    local groupLabels = [c.clusterLabel, 'job', 'instance', c.netnsLabel] + c.podLabels
                        + ['process', 'direction', 'port'],
    local causes =
      '{{ with printf `instance_process_port_cause:tcpstate_close_wait_sockets:sum{'
      + std.join(', ', [l + '=%q' for l in groupLabels]) + '}` '
      + std.join(' ', ['$labels.' + l for l in groupLabels])
      + ' | query }}By cause: {{ range . | sortByLabel "cause" }}{{ .Labels.cause }}={{ .Value | humanize }} {{ end }}{{ end }}',
    local whyText = 'not_closed: the application read the EOF and never called close(), a leak in its code; not_reading: it has not read the socket since the peer closed, a stuck thread or a pool that never polls idle connections; not_accepted: never taken from the listener\'s accept queue, the server is overloaded or its accept loop is stuck (capacity, not a leak)',

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
              description: labels.fmt('The number of CLOSE_WAIT sockets owned by {{ $labels.process }} ({{ $labels.direction }} port {{ $labels.port }}) on {{ $labels.instance }}%(P)s%(C)s has kept rising over the alert window and is now {{ $value | humanize }}. The peers closed these connections. %(W)s(%(WHY)s).', T),
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
              description: labels.fmt('{{ $labels.process }} on {{ $labels.instance }}%(P)s%(C)s holds {{ $value | humanize }} CLOSE_WAIT sockets for {{ $labels.direction }} port {{ $labels.port }}. %(W)s(%(WHY)s). Each owned one keeps a file descriptor open; the process is heading for "Too many open files". Restarting it frees them for now; the fix is in its code.', T),
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
              description: labels.fmt('The oldest CLOSE_WAIT socket of {{ $labels.process }} ({{ $labels.direction }} port {{ $labels.port }}) on {{ $labels.instance }}%(P)s%(C)s has waited {{ $value | humanizeDuration }} for the application to close it. A healthy application closes within milliseconds; this is a leak even when the count is small. %(W)s(%(WHY)s).', T),
            } + closeWaitPage,
            c.closeWaitLingering['for'],
          ),
        ],
      },
      {
        name: 'tcpstate-file-descriptors',
        rules: [
          alert(
            'TcpstateFdUsageHigh',
            'warning',
            labels.fmt(|||
              instance_process:tcpstate_fd_usage:ratio > %(threshold)s
            |||, labels.nums(c.fdUsage)),
            {
              summary: labels.fmt('{{ $labels.process }} on {{ $labels.instance }}%(P)s%(C)s uses {{ $value | humanizePercentage }} of its open file limit', T),
              description: labels.fmt('{{ $labels.process }}{{ with $labels.pid }} (pid {{ . }}){{ end }} on {{ $labels.instance }}%(P)s%(C)s has {{ $value | humanizePercentage }} of its soft RLIMIT_NOFILE in use', T) + fdFigures + '. At 100% every open(), accept() and socket() of it fails with EMFILE ("Too many open files").' + closeWaitToo,
            },
            c.fdUsage['for'],
          ),
          alert(
            'TcpstateFdExhaustionForecast',
            'warning',
            labels.fmt(|||
              predict_linear(tcpstate_process_open_fds[%(window)s], %(horizonHours)s * 3600)
              > (tcpstate_process_max_fds > 0)
            |||, labels.nums(c.fdExhaustionForecast)),
            {
              summary: labels.fmt('{{ $labels.process }} on {{ $labels.instance }}%(P)s%(C)s will run out of file descriptors within %(H)sh', T { H: labels.num(c.fdExhaustionForecast.horizonHours) }),
              description: labels.fmt('At the trend of the last %(W)s, the open fds of {{ $labels.process }}{{ with $labels.pid }} (pid {{ . }}){{ end }} on {{ $labels.instance }}%(P)s%(C)s reach its soft RLIMIT_NOFILE', T { W: c.fdExhaustionForecast.window }) + fdFigures + labels.fmt(' within %(H)sh (forecast: {{ $value | humanize }}). Then open(), accept() and socket() fail with EMFILE ("Too many open files").', { H: labels.num(c.fdExhaustionForecast.horizonHours) }) + closeWaitToo,
            },
            c.fdExhaustionForecast['for'],
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
              description: labels.fmt('{{ $labels.instance }}%(P)s%(C)s holds TIME_WAIT sockets amounting to {{ $value | humanizePercentage }} of net.ipv4.tcp_max_tw_buckets. Past the limit the kernel destroys new TIME_WAIT sockets at once and logs "time wait bucket table overflow". Look for short-lived connections that should be kept alive or pooled.', T) + churn,
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
              description: labels.fmt('{{ $labels.instance }}%(P)s%(C)s is about to exhaust net.ipv4.tcp_max_tw_buckets ({{ $value | humanizePercentage }} used). Connections closed from now on lose their TIME_WAIT protection.', T) + churn,
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
              description: labels.fmt('TcpExt TCPTimeWaitOverflow rose on {{ $labels.instance }}%(C)s: the TIME_WAIT table is full and the kernel closes sockets without TIME_WAIT ("time wait bucket table overflow" in the kernel log).', T) + churn,
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
          // Issue 13: TCP memory before pressure, naming the process that holds the most
          // queued bytes on that node (queried when the annotation is rendered).
          alert(
            'TcpstateTcpMemoryPressure',
            'warning',
            labels.fmt(|||
              tcpstate_kernel_tcp_memory_in_use_bytes
              / (tcpstate_kernel_tcp_mem_pressure_bytes > 0)
              > %(threshold)s
            |||, labels.nums(c.tcpMemoryPressure)),
            {
              summary: labels.fmt('TCP memory on {{ $labels.instance }}%(C)s is at {{ $value | humanizePercentage }} of the tcp_mem pressure threshold', T),
              description: labels.fmt('TCP sockets on {{ $labels.instance }}%(C)s hold {{ $value | humanizePercentage }} of the net.ipv4.tcp_mem pressure threshold; beyond it the kernel shrinks socket buffers (slow transfers), and at the third value allocations fail. {{ with printf `topk(1, sum by (process, pod_namespace, pod_name) (tcpstate_process_queue_bytes{' + c.clusterLabel + '=%%q, job=%%q, instance=%%q}))` $labels.' + c.clusterLabel + ' $labels.job $labels.instance | query }}{{ range $h := . }}Top holder: {{ $h.Labels.process }}{{ with $h.Labels.pod_name }} in pod {{ $h.Labels.pod_namespace }}/{{ . }}{{ end }} with {{ $h.Value | humanize1024 }}B queued.{{ end }}{{ end }} Bytes queued unread (Recv-Q: the application does not read) or unacknowledged (Send-Q: a slow or gone peer) are the usual cause.', T),
            },
            c.tcpMemoryPressure['for'],
          ),
          // Issue 13: the port behind ListenDrops, from each listener's own drop counter.
          alert(
            'TcpstateListenDropsPerPort',
            'warning',
            labels.fmt(|||
              increase(tcpstate_listen_drops_total[%(window)s]) > %(threshold)s
            |||, labels.nums(c.listenDropsPerPort)),
            {
              summary: labels.fmt('Port {{ $labels.port }} on {{ $labels.instance }}%(P)s%(C)s dropped {{ $value | humanize }} connections in %(window)s', T { window: c.listenDropsPerPort.window }),
              description: labels.fmt("The listening sockets of port {{ $labels.port }} on {{ $labels.instance }}%(P)s%(C)s dropped {{ $value | humanize }} incoming connections over %(window)s (their own drop counter, the per-port share of TcpExt ListenDrops): mostly a full accept queue, the application does not call accept() fast enough. Compare tcpstate_listen_queue_length with tcpstate_listen_backlog and tcpstate_listen_syn_recv_sockets for this port; never-accepted CLOSE_WAIT sockets (cause not_accepted) on it say the same.", T { window: c.listenDropsPerPort.window }),
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
