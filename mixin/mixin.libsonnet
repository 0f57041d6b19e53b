// The tcpstate_exporter mixin: Prometheus recording rules, alerts and Grafana dashboards,
// in the layout of kubernetes-mixin / node-mixin:
//   (import 'mixin.libsonnet').prometheusRules    {groups: [...]}  recording rules
//   (import 'mixin.libsonnet').prometheusAlerts   {groups: [...]}  alerts
//   (import 'mixin.libsonnet').grafanaDashboards  {'overview.json': {...}, ...}
// Configure with  (import 'mixin.libsonnet') + { _config+:: { clusterLabel: 'k8s_cluster' } }
// (keys: config.libsonnet). build.jsonnet renders the files committed in the repository.
(import 'config.libsonnet') +
(import 'rules.libsonnet') +
(import 'alerts.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
