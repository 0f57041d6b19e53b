#!/usr/bin/env python3
"""Checks of the mixin (mixin/) beyond the drift test (mixin_drift = generate.sh --check):

  1. generate.sh --check itself: passes against a fresh rendering, fails (exit 1) when a
     generated file was edited by hand, is missing, or when grafana/dashboards has a .json the
     mixin does not render;
  2. rendering is deterministic (this rendering equals the committed files byte for byte);
  3. a configurable cluster label flows through: rendered with clusterLabel "k8s_cluster",
     every `by (...)` / `on (...)` of every rule and every dashboard query includes
     k8s_cluster and none names `cluster`; annotations use $labels.k8s_cluster; every dashboard
     selector filters k8s_cluster=~"$cluster" and the cluster variable lists k8s_cluster; and a
     promtool unit test with two clusters told apart only by k8s_cluster passes against that
     rendering - and FAILS against the default rendering (which sums the two clusters), so the
     test can tell the difference;
  4. tcpstateSelector, runbookURLPattern and a threshold reach the rendered rules, and the
     defaults' values are gone from them.

Usage: tests/mixin/config_test.py    Needs jsonnet, promtool and python3 with PyYAML.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
GENERATE = os.path.join(ROOT, "mixin", "generate.sh")
PROMTOOL = os.environ.get("PROMTOOL", "promtool")
RULES = "deploy/prometheus/tcpstate_exporter.rules.yml"
failures = []


def check(cond, msg):
    print(("  ok    " if cond else "  FAIL  ") + msg)
    if not cond:
        failures.append(msg)


def generate(*args, expect=0):
    r = subprocess.run(["sh", GENERATE] + list(args), capture_output=True, text=True, timeout=120)
    if r.returncode != expect:
        print(r.stdout[-3000:], r.stderr[-3000:], sep="\n")
    return r


def render(tmp, name, config="{}"):
    out = os.path.join(tmp, name)
    r = generate("--config", config, "--out", out)
    assert r.returncode == 0, f"generate.sh --config {config} failed"
    return out


def load_rules(out):
    import yaml  # noqa: PLC0415
    with open(os.path.join(out, RULES), encoding="utf-8") as f:
        return yaml.safe_load(f)


def rules_of(doc):
    return [r for g in doc["groups"] for r in g["rules"]]


def dashboards(out):
    d = os.path.join(out, "grafana", "dashboards")
    return {n: json.load(open(os.path.join(d, n), encoding="utf-8")) for n in sorted(os.listdir(d))}


def panels(items):
    for p in items or []:
        yield p
        yield from panels(p.get("panels"))


def queries(dash):
    for p in panels(dash.get("panels")):
        for t in p.get("targets") or []:
            yield p.get("title"), t["expr"]


GROUPINGS = re.compile(r"\b(by|on)\s*\(([^)]*)\)")


def groupings(expr):
    return [(kind, [x.strip() for x in labels.split(",") if x.strip()])
            for kind, labels in GROUPINGS.findall(expr)]


TWO_CLUSTERS = """
rule_files:
  - tcpstate_exporter.rules.yml
evaluation_interval: 1m
group_eval_order:
  - tcpstate-recording
  - tcpstate-close-wait
  - tcpstate-time-wait-and-ports
  - tcpstate-exporter
tests:
  # Two clusters with a node of the same name, told apart only by k8s_cluster: the recording
  # rule keeps them apart (600 each, not 1200) and TcpstateCloseWaitHigh (> 1000) fires for
  # neither; a third series of 1200 in cluster eu fires, naming the cluster.
  - name: k8s_cluster keeps clusters apart
    interval: 1m
    input_series:
      - series: 'tcpstate_close_wait_sockets{k8s_cluster="us", job="tcpstate_exporter", instance="node-a:9930", process="api", direction="outbound", port="5432", cause="not_closed"}'
        values: '600x20'
      - series: 'tcpstate_close_wait_sockets{k8s_cluster="eu", job="tcpstate_exporter", instance="node-a:9930", process="api", direction="outbound", port="5432", cause="not_closed"}'
        values: '600x20'
      - series: 'tcpstate_close_wait_sockets{k8s_cluster="eu", job="tcpstate_exporter", instance="node-b:9930", process="api", direction="outbound", port="5432", cause="not_reading"}'
        values: '1200x20'
    promql_expr_test:
      - expr: instance_process_port:tcpstate_close_wait_sockets:sum{instance="node-a:9930"}
        eval_time: 1m
        exp_samples:
          - labels: 'instance_process_port:tcpstate_close_wait_sockets:sum{k8s_cluster="us", job="tcpstate_exporter", instance="node-a:9930", process="api", direction="outbound", port="5432"}'
            value: 600
          - labels: 'instance_process_port:tcpstate_close_wait_sockets:sum{k8s_cluster="eu", job="tcpstate_exporter", instance="node-a:9930", process="api", direction="outbound", port="5432"}'
            value: 600
    alert_rule_test:
      - eval_time: 15m
        alertname: TcpstateCloseWaitHigh
        exp_alerts:
          - exp_labels:
              severity: critical
              k8s_cluster: eu
              job: tcpstate_exporter
              instance: node-b:9930
              process: api
              direction: outbound
              port: "5432"
            exp_annotations:
              summary: "1.2k CLOSE_WAIT sockets held by api on node-b:9930 (cluster eu) (outbound port 5432)"
              description: "api on node-b:9930 (cluster eu) holds 1.2k CLOSE_WAIT sockets for outbound port 5432. By cause: not_reading=1.2k (not_closed: the application read the EOF and never called close(), a leak in its code; not_reading: it has not read the socket since the peer closed, a stuck thread or a pool that never polls idle connections; not_accepted: never taken from the listener's accept queue, the server is overloaded or its accept loop is stuck (capacity, not a leak)). Each owned one keeps a file descriptor open; the process is heading for \\"Too many open files\\". Restarting it frees them for now; the fix is in its code."
              runbook_url: "https://github.com/tcpstate/tcpstate_exporter/blob/main/docs/runbook.md#tcpstateclosewaithigh"
              close_wait_page: "http://node-b:9930/close_wait?process=api"
"""


def promtool_test(out, tmp, name):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    shutil.copy(os.path.join(out, RULES), d)
    with open(os.path.join(d, "two-clusters.test.yml"), "w", encoding="utf-8") as f:
        f.write(TWO_CLUSTERS)
    r = subprocess.run([PROMTOOL, "test", "rules", "two-clusters.test.yml"], cwd=d,
                       capture_output=True, text=True, timeout=120)
    return r


def main():
    for tool in ("jsonnet", PROMTOOL):
        if not shutil.which(tool):
            print(f"config_test.py: {tool} not found", file=sys.stderr)
            return 1
    tmp = tempfile.mkdtemp(prefix="tcpstate-mixin-")
    try:
        print("=== 1. generate.sh --check catches hand edits, missing and extra files")
        base = render(tmp, "default")
        r = generate("--check", "--against", base)
        check(r.returncode == 0, f"--check against a fresh rendering passes ({r.stdout.strip()})")
        # One run with a hand-edited dashboard and a hand-edited threshold: both named.
        dash = os.path.join(base, "grafana", "dashboards", "overview.json")
        rules = os.path.join(base, RULES)
        texts = {}
        for path, old, new in ((dash, '"refresh": "1m"', '"refresh": "5m"'),
                               (rules, "> 1000\n", "> 999\n")):
            with open(path, encoding="utf-8") as f:
                texts[path] = f.read()
            assert old in texts[path], (path, old)
            with open(path, "w", encoding="utf-8") as f:
                f.write(texts[path].replace(old, new, 1))
        r = generate("--check", "--against", base, expect=1)
        check(r.returncode == 1 and "overview.json differs" in r.stdout
              and "tcpstate_exporter.rules.yml differs" in r.stdout,
              "a hand-edited dashboard and a hand-edited rules threshold fail --check (exit 1, "
              "both named)")
        # One run with the PrometheusRule missing and a dashboard the mixin does not render.
        for path, text in texts.items():
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        operator = os.path.join(base, "deploy", "kubernetes", "prometheus-operator",
                                "prometheusrule.yaml")
        os.rename(operator, operator + ".away")
        extra = os.path.join(base, "grafana", "dashboards", "hand-made.json")
        shutil.copy(dash, extra)
        r = generate("--check", "--against", base, expect=1)
        check(r.returncode == 1 and "prometheusrule.yaml is missing" in r.stdout
              and "hand-made.json is not rendered" in r.stdout,
              "a missing PrometheusRule and a dashboard the mixin does not render fail --check")
        os.rename(operator + ".away", operator)
        os.remove(extra)

        print("=== 2. deterministic")
        # mixin_drift compares the committed files with one rendering; this is another one.
        committed = [os.path.relpath(p, base) for p in
                     [os.path.join(base, RULES), operator] +
                     [os.path.join(base, "grafana", "dashboards", n)
                      for n in os.listdir(os.path.join(base, "grafana", "dashboards"))]]
        same = [rel for rel in committed
                if open(os.path.join(base, rel), "rb").read() == open(os.path.join(ROOT, rel), "rb").read()]
        check(len(same) == len(committed) == 6,
              f"this rendering equals the committed files byte for byte ({len(same)} of {len(committed)}; "
              "run mixin_drift when it does not)")

        print("=== 3. clusterLabel k8s_cluster flows through rules and dashboards")
        k8s = render(tmp, "k8s", "{ clusterLabel: 'k8s_cluster' }")
        r = subprocess.run([PROMTOOL, "check", "rules", os.path.join(k8s, RULES)],
                           capture_output=True, text=True)
        check(r.returncode == 0, "promtool check rules on the k8s_cluster rendering")
        bad, n = [], 0
        for rule in rules_of(load_rules(k8s)):
            name = rule.get("alert") or rule.get("record")
            for kind, labels in groupings(rule["expr"]):
                n += 1
                if "k8s_cluster" not in labels or "cluster" in labels:
                    bad.append(f"{name}: {kind} ({', '.join(labels)})")
            for key, text in (rule.get("annotations") or {}).items():
                if "$labels.cluster" in text:
                    bad.append(f"{name}: annotation {key} uses $labels.cluster")
        check(n >= 15 and not bad, f"all {n} by/on of the rules keep k8s_cluster, none names cluster"
              + (": " + "; ".join(bad) if bad else ""))
        annotated = [r for r in rules_of(load_rules(k8s)) if "$labels.k8s_cluster" in
                     json.dumps(r.get("annotations", {}))]
        check(len(annotated) >= 15, f"{len(annotated)} alerts name the k8s_cluster label in their annotations")
        bad, n_sel, n_grp = [], 0, 0
        for name, dash in dashboards(k8s).items():
            cvar = [v for v in dash["templating"]["list"] if v["name"] == "cluster"]
            if not cvar or cvar[0]["query"] != "label_values(tcpstate_build_info, k8s_cluster)":
                bad.append(f"{name}: cluster variable {cvar and cvar[0].get('query')}")
            for title, expr in queries(dash):
                for sel in re.findall(r"\{[^}]*\}", expr):
                    n_sel += 1
                    if 'k8s_cluster=~"$cluster"' not in sel.replace(" ", ""):
                        bad.append(f"{name} / {title}: selector {sel}")
                for kind, labels in groupings(expr):
                    n_grp += 1
                    if "k8s_cluster" not in labels or "cluster" in labels:
                        bad.append(f"{name} / {title}: {kind} ({', '.join(labels)})")
        check(n_sel >= 80 and n_grp >= 40 and not bad,
              f"dashboards: {n_sel} selectors filter k8s_cluster=~\"$cluster\", {n_grp} by/on keep "
              "k8s_cluster, the cluster variable lists k8s_cluster" + (": " + "; ".join(bad[:10]) if bad else ""))
        r = promtool_test(k8s, tmp, "promtool-k8s")
        check(r.returncode == 0, "promtool: two clusters told apart by k8s_cluster (k8s_cluster rendering)"
              + ("" if r.returncode == 0 else "\n" + r.stdout[-2000:] + r.stderr[-1000:]))
        r = promtool_test(base, tmp, "promtool-default")
        check(r.returncode != 0 and "FAILED" in r.stdout + r.stderr,
              "the same promtool test FAILS against the default rendering (cluster label "
              "\"cluster\" sums the two clusters): the test can tell")

        print("=== 4. job selector, runbook URL pattern and a threshold")
        cfg = ("{ tcpstateSelector: 'job=\"node-tcp\", namespace=\"monitoring\"', "
               "runbookURLPattern: 'https://runbooks.example.com/tcpstate/%s.html', "
               "closeWaitHigh+: { threshold: 250 } }")
        other = render(tmp, "other", cfg)
        doc = load_rules(other)
        alerts = [r for r in rules_of(doc) if "alert" in r]
        on_up = [r for r in alerts if re.search(r"(?<![\w:])up\{", r["expr"])]
        up = [r["alert"] for r in on_up]
        check(len(up) == 3 and all('up{job="node-tcp", namespace="monitoring"}' in r["expr"]
                                   for r in on_up),
              f"the 3 alerts on up select the configured job: {up}")
        check(not any('tcpstate_exporter"' in r["expr"] for r in rules_of(doc)),
              "no rule expression selects job=\"tcpstate_exporter\" any more")
        urls = [r["annotations"]["runbook_url"] for r in alerts]
        check(all(u == "https://runbooks.example.com/tcpstate/%s.html" % r["alert"].lower()
                  for u, r in zip(urls, alerts)), f"all {len(urls)} runbook_url follow the pattern")
        high = [r["expr"] for r in alerts if r["alert"] == "TcpstateCloseWaitHigh"]
        check(high == ["instance_process_port:tcpstate_close_wait_sockets:sum > 250\n"],
              f"TcpstateCloseWaitHigh threshold 250: {high}")
        r = subprocess.run([PROMTOOL, "check", "rules", os.path.join(other, RULES)],
                           capture_output=True, text=True)
        check(r.returncode == 0, "promtool check rules on that rendering")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    if failures:
        print(f"config_test.py: {len(failures)} check(s) FAILED")
        return 1
    print("config_test.py: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
