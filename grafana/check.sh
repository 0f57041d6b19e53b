#!/bin/sh
# check.sh - static checks of the tcpstate Grafana dashboards and provisioning.
#
#   1. every grafana/dashboards/*.json parses; uids are unique and stable (tcpstate-*);
#      schemaVersion is set; the datasource, cluster, job and instance variables are as
#      documented (dashboards with namespace/pod variables filter every selector on them);
#      every panel has a title, a description and fieldConfig.defaults.unit, uses the
#      ${datasource} variable and only known template variables; template variables appear
#      only in regex matchers (=~ / !~), so that "All" (.*) works; every selector filters on
#      $cluster, $job and $instance, every `by (...)` and `on (...)` keeps the cluster label
#   2. every metric a query uses is in docs/metrics.md or is a recording rule of
#      deploy/prometheus/tcpstate_exporter.rules.yml
#   3. every query (from list-queries.py, variables substituted) parses: they are written as
#      recording rules into a temporary rules file and checked with promtool check rules
#   4. the provisioning files exist and point at the dashboards
#
# Usage: grafana/check.sh      Needs python3 (standard library only) and promtool.
# Prints what it runs; exits 1 if any check failed.

set -u

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
root=$(CDPATH='' cd -- "$here/.." && pwd)
promtool=${PROMTOOL:-promtool}
failures=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

run() {
    printf '+ %s\n' "$*"
    "$@" || { printf 'FAILED: %s\n' "$*"; failures=$((failures + 1)); }
}

printf '=== dashboards: structure, variables, units, metric names\n'
run python3 - "$root/docs/metrics.md" "$root/deploy/prometheus/tcpstate_exporter.rules.yml" \
    "$here"/dashboards/*.json <<'EOF'
import json
import os
import re
import sys

metrics_md, rules_path, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
errors = []

with open(metrics_md, encoding="utf-8") as f:
    known = set(re.findall(r"`((?:tcpstate|process)_[a-z0-9_]+)`", f.read()))
with open(rules_path, encoding="utf-8") as f:
    known |= set(re.findall(r"^\s*- record: (\S+)\s*$", f.read(), re.M))

FUNCS_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan", "atan2",
    # aggregation operators, which may be followed by by/without instead of "("
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile",
}
BUILTIN_VARS = {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s",
                "__range_ms", "__name__"}
VAR_RE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)")


def metric_names(expr):
    """Identifiers used as metric names in a PromQL expression."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)                        # strings
    e = re.sub(r"\[[^\]]*\]", "", e)                                    # ranges, subqueries
    e = re.sub(r"\{[^}]*\}", "", e)                                     # matchers
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word in FUNCS_KEYWORDS:
            continue
        names.add(word)
    return names


def panels(items):
    for p in items or []:
        yield p
        yield from panels(p.get("panels"))


uids = {}
for path in paths:
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except ValueError as e:
        errors.append(f"{name}: invalid JSON: {e}")
        continue
    uid = d.get("uid", "")
    if not re.fullmatch(r"tcpstate-[a-z0-9-]+", uid or ""):
        errors.append(f"{name}: uid {uid!r} is not a stable tcpstate-* uid")
    if uid in uids:
        errors.append(f"{name}: uid {uid} also used by {uids[uid]}")
    uids[uid] = name
    for key in ("title", "schemaVersion", "description"):
        if not d.get(key):
            errors.append(f"{name}: {key} missing")
    variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        errors.append(f"{name}: variable datasource must be of type datasource, query prometheus")
    expected = {
        "cluster": "label_values(tcpstate_build_info, cluster)",
        "job": 'label_values(tcpstate_build_info{cluster=~"$cluster"}, job)',
        "instance": 'label_values(tcpstate_build_info{cluster=~"$cluster", job=~"$job"}, instance)',
    }
    if list(variables)[1:4] != list(expected):
        errors.append(f"{name}: the variables after datasource must be cluster, job, instance")
    for vname, query in expected.items():
        v = variables.get(vname)
        if not v or v.get("query") != query or not v.get("multi") or not v.get("includeAll"):
            errors.append(f"{name}: variable {vname} must query {query}, multi, include All")
    pod_vars = "namespace" in variables or "pod" in variables
    for vname, v in variables.items():
        if v.get("type") == "query":
            if v.get("datasource", {}).get("uid") != "${datasource}":
                errors.append(f"{name}: variable {vname} does not use ${{datasource}}")
            if v.get("includeAll") and v.get("allValue") != ".*":
                errors.append(f"{name}: variable {vname} includes All but allValue is not .*")
    ids = set()
    count = 0
    for p in panels(d.get("panels")):
        if p.get("type") == "row":
            continue
        count += 1
        title = p.get("title") or ""
        where = f"{name}: panel {title or p.get('id')!r}"
        if not title:
            errors.append(f"{where}: no title")
        if not p.get("description"):
            errors.append(f"{where}: no description")
        if not p.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            errors.append(f"{where}: no fieldConfig.defaults.unit")
        if p.get("id") in ids:
            errors.append(f"{where}: duplicate panel id {p.get('id')}")
        ids.add(p.get("id"))
        if p.get("datasource", {}).get("uid") != "${datasource}":
            errors.append(f"{where}: panel datasource is not ${{datasource}}")
        if not p.get("targets"):
            errors.append(f"{where}: no targets")
        if p.get("repeat") and p["repeat"] not in variables:
            errors.append(f"{where}: repeats over unknown variable {p['repeat']}")
        for t in p.get("targets") or []:
            expr = t.get("expr") or ""
            tw = f"{where} target {t.get('refId')}"
            if not expr.strip():
                errors.append(f"{tw}: empty expr")
                continue
            if t.get("datasource", {}).get("uid") != "${datasource}":
                errors.append(f"{tw}: target datasource is not ${{datasource}}")
            for m in VAR_RE.finditer(expr + " " + title):
                v = m.group(1) or m.group(2) or m.group(3)
                if v not in variables and v not in BUILTIN_VARS:
                    errors.append(f"{tw}: unknown variable ${v}")
            bad = re.findall(r'\w+\s*(?:=|!=)\s*"[^"]*\$[^"]*"', expr)
            if bad:
                errors.append(f"{tw}: variable in an exact matcher (use =~): {bad}")
            for sel in re.findall(r"\{[^}]*\}", expr):
                compact = sel.replace(" ", "")
                if any(f'{v}=~"${v}"' not in compact for v in ("cluster", "job", "instance")):
                    errors.append(f"{tw}: selector {sel} does not filter on $cluster, $job and $instance")
                if pod_vars and not sel.startswith("{tcpstate_build_info") and (
                        'pod_namespace=~"$namespace"' not in compact or 'pod_name=~"$pod"' not in compact):
                    errors.append(f"{tw}: selector {sel} does not filter on $namespace and $pod")
            # Aggregations keep the cluster label: `by (...)` lists it unless the result is
            # one number per dashboard selection (no `by`), and every `on (...)` includes it.
            for kind, labels in re.findall(r"\b(by|on)\s*\(([^)]*)\)", expr):
                if "cluster" not in [x.strip() for x in labels.split(",")]:
                    errors.append(f"{tw}: `{kind} ({labels})` drops the cluster label")
            for metric in sorted(metric_names(expr) - known):
                errors.append(f"{tw}: metric {metric} is neither in docs/metrics.md nor a recording rule")
    print(f"  {name}: uid {uid}, {count} panels")

for e in errors:
    print("  " + e)
sys.exit(1 if errors else 0)
EOF

printf '\n=== queries: list-queries.py, then promtool check rules on them\n'
printf '+ python3 %s > queries.jsonl\n' "$here/list-queries.py"
if ! python3 "$here/list-queries.py" >"$tmp/queries.jsonl"; then
    printf 'FAILED: list-queries.py\n'
    failures=$((failures + 1))
fi
printf '  %s queries\n' "$(wc -l <"$tmp/queries.jsonl")"
if [ -s "$tmp/queries.jsonl" ]; then
    # JSON is YAML: one recording rule per query.
    python3 - "$tmp/queries.jsonl" "$tmp/queries.rules.yml" <<'EOF'
import json
import sys

src, dst = sys.argv[1], sys.argv[2]
rules = []
with open(src, encoding="utf-8") as f:
    for i, line in enumerate(f, 1):
        q = json.loads(line)
        rules.append({"record": f"grafana_check:query_{i}:expr", "expr": q["expr"],
                      "labels": {"dashboard": q["dashboard"], "panel": q["panel"],
                                 "ref_id": q["ref_id"]}})
with open(dst, "w", encoding="utf-8") as f:
    json.dump({"groups": [{"name": "grafana-queries", "rules": rules}]}, f, indent=1)
EOF
    run "$promtool" check rules "$tmp/queries.rules.yml"
else
    printf 'FAILED: no queries found\n'
    failures=$((failures + 1))
fi

printf '\n=== provisioning\n'
for f in "$here/provisioning/datasources/prometheus.yml" "$here/provisioning/dashboards/tcpstate.yml"; do
    printf '+ test -s %s\n' "$f"
    [ -s "$f" ] || { printf 'FAILED: %s missing\n' "$f"; failures=$((failures + 1)); }
done
printf '+ grep "type: file" and "path:" in provisioning/dashboards/tcpstate.yml\n'
if ! grep -q '^ *type: file' "$here/provisioning/dashboards/tcpstate.yml" 2>/dev/null ||
    ! grep -q '^ *path: ' "$here/provisioning/dashboards/tcpstate.yml" 2>/dev/null; then
    printf 'FAILED: provisioning/dashboards/tcpstate.yml is not a file provider with a path\n'
    failures=$((failures + 1))
fi

printf '\n'
if [ "$failures" -ne 0 ]; then
    printf 'grafana/check.sh: %d check(s) FAILED\n' "$failures"
    exit 1
fi
printf 'grafana/check.sh: all checks passed\n'
