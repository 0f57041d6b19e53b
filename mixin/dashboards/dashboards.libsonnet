// Every dashboard of the mixin; each file adds one to grafanaDashboards.
{
  // Substitutions of the dashboard queries (q() in the dashboard files):
  //   sel     filters on the cluster, job and instance variables
  //   selPod  sel and the namespace and pod variables
  //   ji, i   the labels a per-target / per-instance aggregation keeps (the cluster label
  //           always, so that two clusters' instances of the same name stay apart)
  //   cluster the cluster label
  _queryContext:: {
    local c = $._config,
    sel: '%s=~"$cluster", job=~"$job", instance=~"$instance"' % c.clusterLabel,
    selPod: self.sel + ', pod_namespace=~"$namespace", pod_name=~"$pod"',
    ji: '%s, job, instance' % c.clusterLabel,
    i: '%s, instance' % c.clusterLabel,
    cluster: c.clusterLabel,
  },
}
+ (import 'close-wait-hunt.libsonnet')
+ (import 'exporter-health.libsonnet')
+ (import 'overview.libsonnet')
+ (import 'time-wait-and-ports.libsonnet')
