#!/bin/sh
# test.sh - check the Prometheus rules of tcpstate_exporter.
#
#   1. promtool check rules on the shipped rules file
#   2. conventions: every alert has a severity (info/warning/critical), summary, description
#      and a runbook_url whose anchor is a heading of docs/runbook.md; every alert is exercised
#      by a unit test; recording rule names have the form level:metric:operations; every
#      metric an expression uses is in docs/metrics.md, a recording rule, `up`, or one of the
#      EXTERNAL metrics of other exporters (kube-state-metrics' kube_pod_info)
#   3. promtool test rules on tests/*.test.yml
#   4. a copy rendered by the mixin with a lower CLOSE_WAIT age threshold and `for`: only those
#      lines change, and a promtool unit test of that copy; invalid mixin configuration fails
#   5. promtool test rules on tests/rendered/*.test.yml, each against a copy rendered by
#      mixin/generate.sh with the jsonnet configuration of its "# mixin-config:" line
# That the shipped files are what the mixin renders is the mixin_drift test (mixin/generate.sh
# --check); other configurations, e.g. another cluster label, are tests/mixin/config_test.sh.
#   6. grafana/check.sh (dashboards and their queries), unless --no-grafana
#
# Usage: deploy/prometheus/test.sh [--no-grafana]
# Needs promtool, python3 (standard library only) and jsonnet. Prints every command it runs; exits 1 if
# any step failed.

set -u

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
root=$(CDPATH='' cd -- "$here/../.." && pwd)
rules="$here/tcpstate_exporter.rules.yml"
mixin="$root/mixin/generate.sh"
promtool=${PROMTOOL:-promtool}
failures=0
grafana=1
[ "${1:-}" = --no-grafana ] && grafana=0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

step() {
    printf '\n=== %s\n' "$1"
}

# run CMD...: print it, run it, count a failure.
run() {
    printf '+ %s\n' "$*"
    if "$@"; then
        return 0
    fi
    printf 'FAILED: %s\n' "$*"
    failures=$((failures + 1))
    return 1
}

fail() {
    printf 'FAILED: %s\n' "$1"
    failures=$((failures + 1))
}

command -v "$promtool" >/dev/null 2>&1 || { echo "test.sh: promtool not found (set PROMTOOL)" >&2; exit 1; }
run "$promtool" --version >/dev/null

step "1. promtool check rules"
run "$promtool" check rules "$rules"

step "2. rule conventions"
run python3 - "$rules" "$root/docs/runbook.md" "$root/docs/metrics.md" "$here"/tests/*.test.yml "$here"/tests/rendered/*.test.yml <<'EOF'
import re
import sys

rules_path, runbook_path, metrics_path, tests = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
errors = []

with open(metrics_path, encoding="utf-8") as f:
    known = set(re.findall(r"`(tcpstate_[a-z0-9_]+)`", f.read())) | {"up"}
# Metrics of other exporters that rules may join with (and nothing else of theirs).
EXTERNAL = {"kube_pod_info", "kube_node_info"}  # kube-state-metrics: pod_uid -> namespace, pod; nodes per cluster
known |= EXTERNAL
with open(rules_path, encoding="utf-8") as f:
    known |= set(re.findall(r"^\s*- record: (\S+)\s*$", f.read(), re.M))
NOT_METRICS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan", "atan2", "sum", "min", "max", "avg", "group", "stddev",
    "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
}


def metric_names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", e)
    return {m.group(1) for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", e)
            if not m.group(2) and m.group(1) not in NOT_METRICS}

# GitHub heading anchors: lower case, drop punctuation except '-' and '_', spaces to '-'.
anchors = set()
with open(runbook_path, encoding="utf-8") as f:
    in_code = False
    for line in f:
        if line.startswith("```"):
            in_code = not in_code
        if in_code:
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)

# The rules file is written in one consistent layout: '- alert:' / '- record:' items, then
# their keys. Collect each rule's lines.
items = []
with open(rules_path, encoding="utf-8") as f:
    for line in f:
        m = re.match(r"^\s*- (alert|record): (\S+)\s*$", line)
        if m:
            items.append({"kind": m.group(1), "name": m.group(2), "lines": []})
        elif items:
            items[-1]["lines"].append(line)

tested = set()
for t in tests:
    with open(t, encoding="utf-8") as f:
        tested.update(re.findall(r"^\s*alertname: (\S+)\s*$", f.read(), re.M))

alerts = 0
for it in items:
    body = "".join(it["lines"])
    name = it["name"]
    # expr: a block scalar ("expr: |" and the lines indented deeper) or one line.
    expr, in_expr, indent = "", False, 0
    for line in it["lines"]:
        m = re.match(r"^(\s*)expr:\s*(.*)$", line)
        if m:
            in_expr, indent = m.group(2).strip() in ("|", ">", "|-", ">-"), len(m.group(1))
            expr = "" if in_expr else m.group(2)
            continue
        if in_expr:
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                in_expr = False
            else:
                expr += line
    if not expr.strip():
        errors.append(f"{it['kind']} {name}: no expr found")
    for metric in sorted(metric_names(expr) - known):
        errors.append(f"{it['kind']} {name}: metric {metric} is neither in docs/metrics.md, a recording rule nor EXTERNAL")
    if it["kind"] == "record":
        if not re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", name):
            errors.append(f"recording rule {name}: not level:metric:operations")
        continue
    alerts += 1
    sev = re.search(r"^\s+severity: (\S+)\s*$", body, re.M)
    if not sev or sev.group(1) not in ("info", "warning", "critical"):
        errors.append(f"alert {name}: severity missing or not info/warning/critical")
    for key in ("summary", "description", "runbook_url"):
        if not re.search(rf"^\s+{key}: \S", body, re.M):
            errors.append(f"alert {name}: annotation {key} missing")
    m = re.search(r'^\s+runbook_url: "([^"]*)"', body, re.M)
    if m:
        url = m.group(1)
        prefix = "https://github.com/tcpstate/tcpstate_exporter/blob/main/docs/runbook.md#"
        if not url.startswith(prefix):
            errors.append(f"alert {name}: runbook_url does not start with {prefix}")
        elif url[len(prefix):] not in anchors:
            errors.append(f"alert {name}: runbook anchor #{url[len(prefix):]} is not a heading of docs/runbook.md")
        elif url[len(prefix):] != name.lower():
            errors.append(f"alert {name}: runbook anchor should be #{name.lower()}")
    if name not in tested:
        errors.append(f"alert {name}: no alert_rule_test in tests/")

for e in errors:
    print("  " + e)
print(f"  {alerts} alerts, {len(items) - alerts} recording rules, {len(anchors)} runbook headings checked")
sys.exit(1 if errors else 0)
EOF

step "3. promtool test rules"
run "$promtool" test rules "$here"/tests/*.test.yml

step "4. a copy rendered by the mixin with other settings (mixin/generate.sh --config)"
# Lingering with a 60 s age limit and for: 1m: the override must take effect, nothing else.
mkdir -p "$tmp/threshold-test"
run sh "$mixin" --config '{ closeWaitLingering+: { thresholdSeconds: 60, "for": "1m" } }' \
    --out "$tmp/threshold-render" >/dev/null &&
    cp "$tmp/threshold-render/deploy/prometheus/tcpstate_exporter.rules.yml" "$tmp/threshold-test/"
run "$promtool" check rules "$tmp/threshold-test/tcpstate_exporter.rules.yml"
check_count() { # DESCRIPTION EXPECTED ACTUAL
    printf '  %s: expected %s, got %s\n' "$1" "$2" "$3"
    [ "$2" -eq "$3" ] || fail "$1"
}
check_count "lines that differ from the shipped rules (expr, for, the header table row)" 3 \
    "$(diff "$rules" "$tmp/threshold-test/tcpstate_exporter.rules.yml" | grep -c '^>')"
cat >"$tmp/threshold-test/threshold.test.yml" <<'EOF'
rule_files:
  - tcpstate_exporter.rules.yml
evaluation_interval: 1m
group_eval_order:
  - tcpstate-recording
  - tcpstate-close-wait
  - tcpstate-time-wait-and-ports
  - tcpstate-exporter
tests:
  - name: closeWaitLingering thresholdSeconds 60 fires on a 2-minute-old CLOSE_WAIT socket
    interval: 1m
    input_series:
      # 30 s older every minute: above 60 from 3m (90), firing from 4m with for: 1m.
      - series: 'tcpstate_close_wait_oldest_age_seconds{job="e2e", instance="node-a:9814", process="api", direction="outbound", port="5432"}'
        values: '0+30x10'
      # Exactly at the limit: strict comparison, never fires.
      - series: 'tcpstate_close_wait_oldest_age_seconds{job="e2e", instance="node-b:9814", process="api", direction="outbound", port="5432"}'
        values: '60x10'
    alert_rule_test:
      - eval_time: 3m
        alertname: TcpstateCloseWaitLingering
        exp_alerts: []
      - eval_time: 4m
        alertname: TcpstateCloseWaitLingering
        exp_alerts:
          - exp_labels:
              severity: warning
              job: e2e
              instance: node-a:9814
              process: api
              direction: outbound
              port: "5432"
            exp_annotations:
              summary: "api on node-a:9814 has a CLOSE_WAIT socket 2m 0s old (outbound port 5432)"
              description: "The oldest CLOSE_WAIT socket of api (outbound port 5432) on node-a:9814 has waited 2m 0s for the application to close it. A healthy application closes within milliseconds; this is a leak even when the count is small. (not_closed: the application read the EOF and never called close(), a leak in its code; not_reading: it has not read the socket since the peer closed, a stuck thread or a pool that never polls idle connections; not_accepted: never taken from the listener's accept queue, the server is overloaded or its accept loop is stuck (capacity, not a leak))."
              runbook_url: "https://github.com/tcpstate/tcpstate_exporter/blob/main/docs/runbook.md#tcpstateclosewaitlingering"
              close_wait_page: "http://node-a:9814/close_wait?process=api"
EOF
run "$promtool" test rules "$tmp/threshold-test/threshold.test.yml"
# A configuration the mixin cannot render is an error (status 2), not a silently shipped file.
printf '+ %s\n' "sh $mixin --config '{ closeWaitHigh+: { threshold: } }'  (must fail with status 2)"
sh "$mixin" --config '{ closeWaitHigh+: { threshold: } }' --out "$tmp/bad" >/dev/null 2>&1
status=$?
[ "$status" -eq 2 ] || fail "generate.sh with invalid jsonnet: status $status (expected 2)"

step "5. promtool test rules on copies rendered with other settings"
for t in "$here"/tests/rendered/*.test.yml; do
    [ -e "$t" ] || continue
    cfg=$(sed -n 's/^# mixin-config: //p' "$t")
    [ -n "$cfg" ] || { fail "$t has no '# mixin-config:' line"; continue; }
    d="$tmp/rendered-$(basename "$t" .test.yml)"
    mkdir -p "$d"
    run sh "$mixin" --config "$cfg" --out "$d/out" >/dev/null &&
        cp "$d/out/deploy/prometheus/tcpstate_exporter.rules.yml" "$t" "$d/" &&
        run "$promtool" test rules "$d/$(basename "$t")"
done

if [ "$grafana" -eq 1 ]; then
    step "6. grafana/check.sh"
    run sh "$root/grafana/check.sh"
fi

printf '\n'
if [ "$failures" -ne 0 ]; then
    printf 'test.sh: %d check(s) FAILED\n' "$failures"
    exit 1
fi
printf 'test.sh: all checks passed\n'
