// Label lists and selectors derived from _config, shared by rules, alerts and dashboards.
{
  // A number as the shortest decimal that reads back as the same value (0.8, not
  // 0.80000000000000004 as std.toString writes it); strings pass through.
  num(x)::
    if std.isString(x) then x
    else if x == std.floor(x) && std.abs(x) < 1e15 then '%d' % x
    else [s for s in [std.format('%.' + p + 'g', x) for p in std.range(1, 17)] if std.parseJson(s) == x][0],
  // An object's numbers formatted by num(), for `'... > %(threshold)s' % nums(o)`.
  nums(o):: { [k]: if std.isNumber(o[k]) then $.num(o[k]) else o[k] for k in std.objectFields(o) },

  // fmt(s, ctx): s % ctx for %(key)s and %% only, with string values; std.format is
  // interpreted character by character in jsonnet 0.18 (16 ms per annotation, seconds per
  // rendering), std.split is not.
  fmt(s, ctx)::
    local parts = std.split(s, '%');
    local step(acc, p) =
      if acc.literal then { out: acc.out + p, literal: false }  // the text after %%
      else if p == '' then { out: acc.out + '%', literal: true }  // %%
      else
        assert std.startsWith(p, '(') : 'fmt: only %(key)s and %% are supported: ' + s;
        local kv = std.split(std.substr(p, 1, std.length(p) - 1), ')');
        local rest = std.join(')', kv[1:]);
        assert std.startsWith(rest, 's') : 'fmt: only %(key)s and %% are supported: ' + s;
        assert std.objectHas(ctx, kv[0]) : 'fmt: no key ' + kv[0] + ' for ' + s;
        local v = ctx[kv[0]];
        { out: acc.out + (if std.isString(v) then v else $.num(v)) + std.substr(rest, 1, std.length(rest) - 1), literal: false };
    std.foldl(step, parts[1:], { out: parts[0], literal: false }).out,

  // c: the mixin's _config. Returns strings ready for `by (...)` / `on (...)` and annotation
  // fragments.
  new(c):: {
    local cluster = c.clusterLabel,
    local pods = c.podLabels,
    // Where a series comes from: cluster, scrape target, network namespace.
    target: std.join(', ', [cluster, 'job', 'instance']),
    netns: std.join(', ', [cluster, 'job', 'instance', c.netnsLabel]),
    pod: std.join(', ', [cluster, 'job', 'instance', c.netnsLabel] + pods),
    // A CLOSE_WAIT group: pod + process, direction, port.
    group: std.join(', ', [cluster, 'job', 'instance', c.netnsLabel] + pods + ['process', 'direction', 'port']),
    cluster: cluster,
    ksm: if c.kubeStateMetricsSelector == '' then '' else c.kubeStateMetricsSelector + ', ',
    tcpstate: c.tcpstateSelector,
    // Annotation fragments: " in pod NS/NAME" when the pod labels are there, " (cluster C)"
    // when the cluster label is.
    inPod: '{{ with $labels.pod_name }} in pod {{ $labels.pod_namespace }}/{{ . }}{{ end }}',
    inCluster: '{{ with $labels.%s }} (cluster {{ . }}){{ end }}' % cluster,
    ofCluster: '{{ with $labels.%s }} of cluster {{ . }}{{ end }}' % cluster,
    inClusterPlain: '{{ with $labels.%s }} in cluster {{ . }}{{ end }}' % cluster,
  },
}
