#!/bin/sh
# generate.sh - render the tcpstate_exporter mixin (mixin/build.jsonnet, laid out by
# mixin/render.py) into the files it owns:
#
#   deploy/prometheus/tcpstate_exporter.rules.yml            recording rules + alerts
#   deploy/kubernetes/prometheus-operator/prometheusrule.yaml the same rules as a PrometheusRule
#   grafana/dashboards/*.json                                 the Grafana dashboards
#
# Usage:
#   mixin/generate.sh                   rewrite those files in the repository (= make -C mixin)
#   mixin/generate.sh --check           render into a temporary directory and compare: exit 1
#                                       (with a diff) when a committed file differs from what
#                                       the mixin renders, is missing, or when grafana/dashboards
#                                       has a .json file the mixin does not render
#   mixin/generate.sh --out DIR         render into DIR (same layout below it), e.g. a copy with
#   mixin/generate.sh --config CODE     your own settings: CODE is a jsonnet object merged into
#                                       _config (keys: mixin/config.libsonnet), e.g.
#     mixin/generate.sh --config '{ clusterLabel: "k8s_cluster", closeWaitHigh+: { threshold: 500 } }' --out /tmp/tcpstate
#   mixin/generate.sh --config-file F   the same, CODE read from file F
#   mixin/generate.sh --check --against DIR   compare with the files below DIR instead of the
#                                       repository (tests/mixin/config_test.py checks --check so)
#
# Needs jsonnet (Debian package jsonnet; any jsonnet >= 0.18 implementation) and python3. Exit status: 0 on
# success, 1 when --check finds a difference, 2 on a usage or render error.

set -eu

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
root=$(CDPATH='' cd -- "$here/.." && pwd)
jsonnet=${JSONNET:-jsonnet}
check=0
out=""
config="{}"

die() {
    printf 'generate.sh: %s\n' "$1" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
        --check) check=1; shift ;;
        --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
        --config) [ $# -ge 2 ] || die "--config needs jsonnet code"; config=$2; shift 2 ;;
        --config-file)
            [ $# -ge 2 ] || die "--config-file needs a file"
            [ -r "$2" ] || die "cannot read $2"
            config=$(cat -- "$2"); shift 2 ;;
        --against) [ $# -ge 2 ] || die "--against needs a directory"; root=$(CDPATH='' cd -- "$2" && pwd); shift 2 ;;
        -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ "$check" -eq 0 ] || [ -z "$out" ] || die "--check compares with the repository; it takes no --out"
[ "$check" -eq 0 ] || [ "$config" = "{}" ] || die "--check renders the committed defaults; it takes no --config"
command -v "$jsonnet" >/dev/null 2>&1 || die "jsonnet not found (Debian: apt-get install jsonnet; or set JSONNET)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# render DIR: every generated file below DIR, their paths in $tmp/list; fails on an error.
render() {
    "$jsonnet" -J "$here" --tla-code "config=$config" "$here/build.jsonnet" >"$tmp/doc.json" ||
        die "jsonnet failed"
    python3 "$here/render.py" "$1" <"$tmp/doc.json" >"$tmp/list" || die "render.py failed"
}

if [ "$check" -eq 1 ]; then
    render "$tmp/render"
    status=0
    n=0
    while IFS= read -r f; do
        rel=${f#"$tmp/render/"}
        n=$((n + 1))
        if [ ! -f "$root/$rel" ]; then
            printf 'generate.sh: %s is missing; run make -C mixin\n' "$rel"
            status=1
        elif ! cmp -s "$f" "$root/$rel"; then
            printf 'generate.sh: %s differs from what the mixin renders (edited by hand, or the mixin changed without make -C mixin):\n' "$rel"
            diff -u "$root/$rel" "$f" | head -n 40
            status=1
        fi
    done <"$tmp/list"
    for f in "$root"/grafana/dashboards/*.json; do
        [ -e "$f" ] || continue
        rel=${f#"$root/"}
        if ! grep -qxF "$tmp/render/$rel" "$tmp/list"; then
            printf 'generate.sh: %s is not rendered by the mixin (add it to mixin/dashboards or remove it)\n' "$rel"
            status=1
        fi
    done
    [ "$status" -eq 0 ] && printf 'generate.sh: all %d generated files are up to date\n' "$n"
    exit "$status"
fi

if [ -n "$out" ]; then
    mkdir -p "$out"
    render "$out"
    sed "s|^$out/*||" "$tmp/list" | sed 's/^/generate.sh: wrote /'
    exit 0
fi

render "$tmp/render"
while IFS= read -r f; do
    rel=${f#"$tmp/render/"}
    if [ -f "$root/$rel" ] && cmp -s "$f" "$root/$rel"; then
        printf 'generate.sh: %s unchanged\n' "$rel"
    else
        cp "$f" "$root/$rel"
        printf 'generate.sh: wrote %s\n' "$rel"
    fi
done <"$tmp/list"
