// Recording rules: the stable building blocks of the alerts, and of alerts of your own.
local labels = import 'lib/labels.libsonnet';

{
  prometheusRules+:: {
    local L = labels.new($._config),
    // kube-state-metrics' kube_pod_info{namespace, pod, uid, ...} as one series per pod_uid.
    local kubePod = labels.fmt(|||
      max by (%(cluster)s, pod_uid, namespace, pod) (
        label_replace(kube_pod_info{%(ksm)suid!=""}, "pod_uid", "$1", "uid", "(.+)")
      )
    |||, L),

    groups+: [
      {
        name: 'tcpstate-recording',
        rules: [
          {
            comment:: 'CLOSE_WAIT per process and port, summed over pid (pids change on restart) so that a\ntrend survives restarts of one process name.',
            record: 'instance_process_port:tcpstate_close_wait_sockets:sum',
            expr: labels.fmt(|||
              sum by (%(group)s) (
                tcpstate_close_wait_sockets
              )
            |||, L),
          },
          {
            comment:: 'The same per cause (not_accepted, not_reading, not_closed; docs/metrics.md): the\nCLOSE_WAIT alerts list it in their descriptions.',
            record: 'instance_process_port_cause:tcpstate_close_wait_sockets:sum',
            expr: labels.fmt(|||
              sum by (%(group)s, cause) (
                tcpstate_close_wait_sockets
              )
            |||, L),
          },
          {
            record: 'instance_process_port:tcpstate_close_wait_oldest_age_seconds:max',
            expr: labels.fmt(|||
              max by (%(group)s) (
                tcpstate_close_wait_oldest_age_seconds
              )
            |||, L),
          },
          {
            comment:: 'TIME_WAIT sockets as a fraction of net.ipv4.tcp_max_tw_buckets (a per-namespace limit).\nA limit of 0 gives no ratio.',
            record: 'instance:tcpstate_time_wait_bucket_usage:ratio',
            expr: labels.fmt(|||
              sum by (%(pod)s) (tcpstate_sockets{state="time_wait"})
              / on (%(netns)s) group_left ()
              (max by (%(netns)s) (tcpstate_kernel_tcp_max_tw_buckets) > 0)
            |||, L),
          },
          {
            comment:: 'Open fds of a socket-owning process as a fraction of its soft RLIMIT_NOFILE (open() fails\nwith EMFILE at 1). Keeps every label of tcpstate_process_open_fds; no ratio without a limit.',
            record: 'instance_process:tcpstate_fd_usage:ratio',
            expr: |||
              tcpstate_process_open_fds
              / (tcpstate_process_max_fds > 0)
            |||,
          },
          {
            comment:: 'Number of ports in net.ipv4.ip_local_port_range (both ends inclusive).',
            record: 'instance:tcpstate_ephemeral_port_range:size',
            expr: labels.fmt(|||
              max by (%(netns)s) (
                tcpstate_kernel_ip_local_port_range_high - tcpstate_kernel_ip_local_port_range_low + 1
              )
            |||, L),
          },
          {
            comment:: 'Local ports used toward the busiest destination of each remote port, as a fraction of\nthe ephemeral port range. Keeps every label of tcpstate_outbound_local_ports_max.',
            record: 'instance_port:tcpstate_outbound_local_ports:ratio',
            expr: labels.fmt(|||
              tcpstate_outbound_local_ports_max
              / on (%(netns)s) group_left ()
              (instance:tcpstate_ephemeral_port_range:size > 0)
            |||, L),
          },
          {
            comment:: 'Accept queue of the listeners of a port as a fraction of their backlog.',
            record: 'instance_port:tcpstate_listen_queue:ratio',
            expr: |||
              tcpstate_listen_queue_length
              / (tcpstate_listen_backlog > 0)
            |||,
          },
          {
            comment:: |||
              Kubernetes (namespaces.mode: all): the pod behind pod_uid, named by kube-state-metrics.
              kube_pod_info{namespace, pod, uid, node, ...} is 1 per pod; `max by` keeps one series
              per uid (several kube-state-metrics replicas or shards, a pod whose pod_ip or node
              label changed), so the join stays many-to-one. The result has namespace and pod (the
              API's names) besides pod_uid. Series without pod_uid (the node's own namespace,
              hostNetwork pods) and pods kube-state-metrics does not know are not in the result:
              use the rules above for those.
            |||,
            record: 'instance_pod_process_port:tcpstate_close_wait_sockets:sum',
            expr: labels.fmt(|||
              sum by (%(cluster)s, job, instance, netns, pod_uid, process, direction, port) (
                tcpstate_close_wait_sockets{pod_uid!=""}
              )
              * on (%(cluster)s, pod_uid) group_left (namespace, pod)
            |||, L) + kubePod,
          },
          {
            record: 'instance_pod_process_port:tcpstate_close_wait_oldest_age_seconds:max',
            expr: labels.fmt(|||
              max by (%(cluster)s, job, instance, netns, pod_uid, process, direction, port) (
                tcpstate_close_wait_oldest_age_seconds{pod_uid!=""}
              )
              * on (%(cluster)s, pod_uid) group_left (namespace, pod)
            |||, L) + kubePod,
          },
          {
            record: 'instance_pod:tcpstate_sockets:sum',
            expr: labels.fmt(|||
              sum by (%(cluster)s, job, instance, netns, pod_uid, state) (
                tcpstate_sockets{pod_uid!=""}
              )
              * on (%(cluster)s, pod_uid) group_left (namespace, pod)
            |||, L) + kubePod,
          },
        ],
      },
    ],
  },
}
