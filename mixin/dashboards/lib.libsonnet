// Plain jsonnet constructors for the Grafana dashboards (no grafonnet: Debian packages none).
// Panels and variables use the ${datasource} variable; every query variable offers "All" as .*
// so that `label=~"$var"` also matches series without the label (the node's own sockets have no
// pod labels, a single-cluster set-up no cluster label).
local ds = { type: 'prometheus', uid: '${datasource}' };

{
  datasource:: ds,

  // A query of a panel. instant: an instant query (tables, bar gauges); table: format table.
  target(expr, legend='__auto', instant=false, table=false):: {
    datasource: ds,
    editorMode: 'code',
    expr: expr,
    legendFormat: legend,
    range: !instant,
    instant: instant,
  } + (if table then { format: 'table' } else {}),

  thresholds(steps):: {
    mode: 'absolute',
    steps: [{ color: s[0], value: s[1] } for s in steps],
  },

  local base(type, title, description, unit, targets, grid) = {
    type: type,
    title: title,
    description: description,
    datasource: ds,
    targets: [targets[i] { refId: std.char(std.codepoint('A') + i) } for i in std.range(0, std.length(targets) - 1)],
    gridPos: { x: grid[0], y: grid[1], w: grid[2], h: grid[3] },
    fieldConfig: { defaults: { unit: unit }, overrides: [] },
  },

  stat(title, description, unit, targets, grid):: base('stat', title, description, unit, targets, grid) + {
    fieldConfig+: { defaults+: {
      color: { mode: 'thresholds' },
      thresholds: $.thresholds([['green', null]]),
      mappings: [],
    } },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'value',
      graphMode: 'area',
      justifyMode: 'auto',
      orientation: 'auto',
      textMode: 'auto',
    },
  },

  timeseries(title, description, unit, targets, grid):: base('timeseries', title, description, unit, targets, grid) + {
    fieldConfig+: { defaults+: {
      color: { mode: 'palette-classic' },
      custom: {
        drawStyle: 'line',
        lineInterpolation: 'linear',
        lineWidth: 1,
        fillOpacity: 10,
        gradientMode: 'none',
        showPoints: 'never',
        spanNulls: false,
        axisPlacement: 'auto',
        axisLabel: '',
        scaleDistribution: { type: 'linear' },
        stacking: { mode: 'none', group: 'A' },
        thresholdsStyle: { mode: 'off' },
      },
      thresholds: $.thresholds([['green', null]]),
    } },
    options: {
      legend: { showLegend: true, displayMode: 'table', placement: 'bottom', calcs: ['lastNotNull', 'max'] },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  },

  bargauge(title, description, unit, targets, grid):: base('bargauge', title, description, unit, targets, grid) + {
    fieldConfig+: { defaults+: {
      color: { mode: 'thresholds' },
      thresholds: $.thresholds([['green', null]]),
      min: 0,
    } },
    options: {
      displayMode: 'gradient',
      orientation: 'horizontal',
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      showUnfilled: true,
      minVizHeight: 10,
      minVizWidth: 0,
      valueMode: 'color',
    },
  },

  // A table of instant queries merged on their labels; rename maps "Value #A" etc. to column
  // names.
  table(title, description, unit, targets, grid, rename={}, exclude={ Time: true }):: base('table', title, description, unit, targets, grid) + {
    fieldConfig+: { defaults+: {
      custom: { align: 'auto', filterable: true },
      thresholds: $.thresholds([['green', null]]),
      color: { mode: 'thresholds' },
    } },
    options: {
      showHeader: true,
      cellHeight: 'sm',
      footer: { show: false, reducer: ['sum'], fields: '' },
      sortBy: [],
    },
    transformations: [
      { id: 'merge', options: {} },
      { id: 'organize', options: { excludeByName: exclude, indexByName: {}, renameByName: rename } },
    ],
  },

  stateTimeline(title, description, unit, targets, grid):: base('state-timeline', title, description, unit, targets, grid) + {
    fieldConfig+: { defaults+: {
      color: { mode: 'thresholds' },
      custom: { fillOpacity: 70, lineWidth: 0 },
    } },
    options: {
      showValue: 'never',
      mergeValues: true,
      rowHeight: 0.9,
      alignValue: 'left',
      legend: { showLegend: false },
      tooltip: { mode: 'single', sort: 'none' },
    },
  },

  // A dashed line (limits drawn beside the value they limit).
  dashed(regexp, color):: {
    matcher: { id: 'byRegexp', options: regexp },
    properties: [
      { id: 'custom.lineStyle', value: { dash: [10, 10], fill: 'dash' } },
      { id: 'color', value: { mode: 'fixed', fixedColor: color } },
      { id: 'custom.fillOpacity', value: 0 },
    ],
  },

  datasourceVariable:: {
    type: 'datasource',
    name: 'datasource',
    label: 'Data source',
    query: 'prometheus',
    current: {},
    hide: 0,
    includeAll: false,
    multi: false,
    options: [],
    refresh: 1,
    regex: '',
    skipUrlSync: false,
  },

  queryVariable(name, label, query):: {
    type: 'query',
    name: name,
    label: label,
    datasource: ds,
    definition: query,
    query: query,
    current: {},
    hide: 0,
    includeAll: true,
    multi: true,
    allValue: '.*',
    options: [],
    refresh: 2,
    regex: '',
    skipUrlSync: false,
    sort: 1,
  },

  // cluster, job, instance: which exporters ($cluster matches the whole fleet with "All").
  targetVariables(c):: [
    $.queryVariable('cluster', 'Cluster', 'label_values(%s, %s)' % [c.dashboardInfoMetric, c.clusterLabel]),
    $.queryVariable('job', 'Job', 'label_values(%s{%s=~"$cluster"}, job)' % [c.dashboardInfoMetric, c.clusterLabel]),
    $.queryVariable('instance', 'Instance', 'label_values(%s{%s=~"$cluster", job=~"$job"}, instance)' % [c.dashboardInfoMetric, c.clusterLabel]),
  ],

  // namespace, pod: the pod_namespace and pod_name labels of namespaces.mode all. "All" (.*)
  // also matches the node's own sockets, which have neither.
  podVariables(c):: [
    $.queryVariable('namespace', 'Namespace', 'label_values(tcpstate_sockets{%s=~"$cluster", job=~"$job", instance=~"$instance"}, pod_namespace)' % c.clusterLabel),
    $.queryVariable('pod', 'Pod', 'label_values(tcpstate_sockets{%s=~"$cluster", job=~"$job", instance=~"$instance", pod_namespace=~"$namespace"}, pod_name)' % c.clusterLabel),
  ],

  // c: _config. Panel ids are assigned in order.
  dashboard(c, uid, title, description, variables, panels):: {
    __requires: [
      { type: 'grafana', id: 'grafana', name: 'Grafana', version: '9.4.0' },
      { type: 'datasource', id: 'prometheus', name: 'Prometheus', version: '1.0.0' },
    ],
    annotations: { list: [{
      builtIn: 1,
      datasource: { type: 'grafana', uid: '-- Grafana --' },
      enable: true,
      hide: true,
      iconColor: 'rgba(0, 211, 255, 1)',
      name: 'Annotations & Alerts',
      type: 'dashboard',
    }] },
    description: description,
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    id: null,
    links: [{
      asDropdown: true,
      icon: 'external link',
      includeVars: true,
      keepTime: true,
      tags: [c.dashboardTags[0]],
      targetBlank: false,
      title: 'tcpstate dashboards',
      tooltip: '',
      type: 'dashboards',
      url: '',
    }],
    liveNow: false,
    refresh: c.dashboardRefresh,
    schemaVersion: 38,
    tags: c.dashboardTags,
    templating: { list: [$.datasourceVariable] + variables },
    time: { from: c.dashboardTimeFrom, to: 'now' },
    timepicker: {},
    timezone: '',
    title: c.dashboardTitlePrefix + title,
    uid: c.dashboardUIDPrefix + uid,
    version: 1,
    weekStart: '',
    panels: [panels[i] { id: i + 1 } for i in std.range(0, std.length(panels) - 1)],
  },
}
