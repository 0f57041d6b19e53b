#!/usr/bin/env python3
"""Lay out the JSON document of mixin/build.jsonnet (on standard input) as the repository's
generated files below OUTDIR, and print the path of each file written:

    OUTDIR/deploy/prometheus/tcpstate_exporter.rules.yml
    OUTDIR/deploy/kubernetes/prometheus-operator/prometheusrule.yaml
    OUTDIR/grafana/dashboards/<name>.json

The rules are written as YAML for people who read them: keys in the order Prometheus documents
them (record/alert, expr, for, labels, annotations), `expr` as a literal block, names and
durations plain, every other string double-quoted (a JSON string is a valid YAML double-quoted
scalar), a rule's `comment` as comment lines above it. Dashboards: JSON indented by two spaces.
Deterministic: the same input gives the same bytes. Python 3 standard library only.

Usage: jsonnet mixin/build.jsonnet | python3 mixin/render.py OUTDIR    (mixin/generate.sh)
"""

import json
import os
import re
import sys

RULES = "deploy/prometheus/tcpstate_exporter.rules.yml"
OPERATOR = "deploy/kubernetes/prometheus-operator/prometheusrule.yaml"
DASHBOARDS = "grafana/dashboards"

PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/-]*|[0-9]+(?:ms|[smhdwy])(?:[0-9]+(?:ms|[smhdwy]))*")
YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def scalar(s):
    """Plain when YAML reads it back as this string (names, durations), else double-quoted."""
    if not isinstance(s, str):
        raise ValueError(f"not a string: {s!r}")
    if PLAIN.fullmatch(s) and s.lower() not in YAML_WORDS:
        return s
    return quoted(s)


def quoted(s):
    return json.dumps(s, ensure_ascii=False)


def comment(text, indent):
    return "".join(f"{indent}#{' ' + line if line else ''}\n"
                   for line in text.rstrip("\n").split("\n"))


def block(text, indent):
    """`|` literal block lines; the text must end with exactly one newline (clip chomping)."""
    if not text.endswith("\n") or text.endswith("\n\n") or text.startswith((" ", "\n")):
        raise ValueError(f"expr must end with one newline and not start with a blank: {text!r}")
    return "".join(f"{indent}{line}\n" if line else "\n" for line in text[:-1].split("\n"))


def mapping(key, obj, indent, quote_all=False):
    if not obj:
        return ""
    out = f"{indent}{key}:\n"
    for k in sorted(obj):
        v = obj[k]
        out += f"{indent}  {scalar(k)}: {quoted(v) if quote_all else scalar(v)}\n"
    return out


KNOWN = {"record", "alert", "expr", "for", "labels", "annotations", "comment",
         "keep_firing_for"}


def rule(r, indent):
    unknown = set(r) - KNOWN
    if unknown:
        raise ValueError(f"rule {r.get('alert') or r.get('record')}: unknown keys {sorted(unknown)}")
    if ("record" in r) == ("alert" in r):
        raise ValueError(f"a rule has either record or alert: {r}")
    kind = "record" if "record" in r else "alert"
    out = comment(r["comment"], indent) if r.get("comment") else ""
    out += f"{indent}- {kind}: {scalar(r[kind])}\n"
    out += f"{indent}  expr: |\n" + block(r["expr"], indent + "    ")
    for key in ("for", "keep_firing_for"):
        if key in r:
            out += f"{indent}  {key}: {scalar(r[key])}\n"
    out += mapping("labels", r.get("labels"), indent + "  ")
    out += mapping("annotations", r.get("annotations"), indent + "  ", quote_all=True)
    return out


def groups_yaml(groups):
    parts = []
    for g in groups:
        text = f"  - name: {scalar(g['name'])}\n"
        if "interval" in g:
            text += f"    interval: {scalar(g['interval'])}\n"
        text += "    rules:\n" + "\n".join(rule(r, "      ") for r in g["rules"])
        parts.append(text)
    return "groups:\n" + "\n".join(parts)


def write(outdir, rel, text, written):
    path = os.path.join(outdir, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    written.append(path)


def main(argv):
    if len(argv) != 1 or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    outdir = argv[0]
    doc = json.load(sys.stdin)
    written = []
    rules = comment(doc["rules"]["header"], "") + "\n" + groups_yaml(doc["rules"]["groups"])
    write(outdir, RULES, rules, written)
    op = doc["prometheusRule"]
    meta = "metadata:\n  name: " + scalar(op["metadata"]["name"]) + "\n" + \
        mapping("labels", op["metadata"]["labels"], "  ")
    operator = (comment(op["header"], "") + "apiVersion: monitoring.coreos.com/v1\n"
                "kind: PrometheusRule\n" + meta + "spec:\n"
                + "".join(("  " + line if line else "") + "\n"
                          for line in rules[:-1].split("\n")))
    write(outdir, OPERATOR, operator, written)
    for name in sorted(doc["dashboards"]):
        if not re.fullmatch(r"[a-z0-9-]+\.json", name):
            raise ValueError(f"dashboard file name {name!r}")
        write(outdir, f"{DASHBOARDS}/{name}",
              json.dumps(doc["dashboards"][name], indent=2, ensure_ascii=False) + "\n", written)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
