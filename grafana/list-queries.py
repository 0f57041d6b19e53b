#!/usr/bin/env python3
"""Print every PromQL query of the tcpstate Grafana dashboards, ready to run.

One JSON object per line:

    {"dashboard": "<uid>", "panel": "<panel title>", "ref_id": "A", "instant": false,
     "expr": "<PromQL with template variables substituted>"}

Template variables are replaced by values that match everything, so that each query can be
sent as is to a Prometheus (end-to-end tests) or checked with promtool (grafana/check.sh):

    $cluster, $job, $instance, $namespace, $pod, $process, $port  ->  .*
    $__rate_interval -> 1m    $__interval -> 15s    $__range -> 1h

in all the forms Grafana accepts: $var, ${var}, ${var:format} and [[var]]. A variable that is
not known is an error (exit status 1), so that a new one is not silently sent to Prometheus.

Usage:
    grafana/list-queries.py [--set NAME=VALUE]... [DASHBOARD.json]...

    --set NAME=VALUE   substitute VALUE for $NAME (e.g. --set job=tcpstate --set instance=host:9814)
    DASHBOARD.json     default: every grafana/dashboards/*.json beside this script

Python 3 standard library only.
"""

import glob
import json
import os
import re
import signal
import sys

DEFAULTS = {
    "cluster": ".*",
    "job": ".*",
    "instance": ".*",
    "process": ".*",
    "port": ".*",
    "namespace": ".*",
    "pod": ".*",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
}

# ${name}, ${name:format}, [[name]], [[name:format]], $name
VAR_RE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)")


def substitute(expr, values):
    unknown = []

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in values:
            unknown.append(name)
            return m.group(0)
        return values[name]

    return VAR_RE.sub(repl, expr), unknown


def panels(items):
    """Every panel, including the panels of (collapsed) rows."""
    for p in items or []:
        yield p
        yield from panels(p.get("panels"))


def main(argv):
    values = dict(DEFAULTS)
    files = []
    args = iter(argv)
    for a in args:
        if a in ("-h", "--help"):
            print(__doc__)
            return 0
        if a == "--set" or a.startswith("--set="):
            kv = a[len("--set="):] if a.startswith("--set=") else next(args, "")
            if "=" not in kv:
                print(f"list-queries.py: --set expects NAME=VALUE, got {kv!r}", file=sys.stderr)
                return 2
            k, v = kv.split("=", 1)
            values[k] = v
        elif a.startswith("-"):
            print(f"list-queries.py: unknown option {a!r}", file=sys.stderr)
            return 2
        else:
            files.append(a)
    if not files:
        here = os.path.dirname(os.path.abspath(__file__))
        files = sorted(glob.glob(os.path.join(here, "dashboards", "*.json")))
    if not files:
        print("list-queries.py: no dashboards found", file=sys.stderr)
        return 1

    status = 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
        uid = dash.get("uid", os.path.basename(path))
        for p in panels(dash.get("panels")):
            for t in p.get("targets") or []:
                expr = t.get("expr")
                if not expr:
                    continue
                out, unknown = substitute(expr, values)
                if unknown:
                    print(f"list-queries.py: {path}: panel {p.get('title')!r} target "
                          f"{t.get('refId')}: unknown variable(s) {', '.join(sorted(set(unknown)))}",
                          file=sys.stderr)
                    status = 1
                print(json.dumps({
                    "dashboard": uid,
                    "panel": p.get("title", ""),
                    "ref_id": t.get("refId", ""),
                    "instant": bool(t.get("instant")) and not t.get("range", False),
                    "expr": out,
                }, ensure_ascii=False))
    return status


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under `| head`
    sys.exit(main(sys.argv[1:]))
