#!/bin/sh
# render-rules.sh - emit a copy of tcpstate_exporter.rules.yml with other `for:` durations,
# range windows and scrape job name, leaving the shipped file untouched.
#
# Usage:
#   render-rules.sh [--for FROM=TO]... [--window FROM=TO]... [--job NAME]
#                   [-o OUTPUT] [RULES_FILE]
#
#   --for FROM=TO      every alert with `for: FROM` gets `for: TO`
#   --window FROM=TO   every range selector `[FROM]` (and subquery `[FROM:...]`) becomes `[TO]`
#   --job NAME         the job matcher of TcpstateExporterDown, job="tcpstate_exporter",
#                      becomes job="NAME"
#   -o OUTPUT          write to OUTPUT instead of standard output
#   RULES_FILE         default: tcpstate_exporter.rules.yml beside this script
#
# Durations are Prometheus durations (30s, 5m, 1h, 1h30m, ...). A mapping is keyed by the
# duration value, not by alert: `--for 15m=1m` changes every alert whose `for:` is 15m. All
# mappings apply at once, so `--for 15m=5m --for 5m=1m` turns 15m into 5m and 5m into 1m (no
# chaining). A FROM that does not occur in the file is an error (catches typos). When anything
# is mapped, one comment line naming the arguments is put first; nothing else changes, and the
# same arguments always give the same output.
#
# Example (end-to-end test with short windows):
#   render-rules.sh --for 15m=1m --for 10m=1m --for 5m=30s --window 30m=3m --window 5m=1m \
#     --job tcpstate -o /tmp/rules.yml && promtool check rules /tmp/rules.yml
#
# Exit status: 0 on success (and for --help), 2 on a usage error.

set -eu

usage() {
    sed -n '5,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
}

die() {
    printf 'render-rules.sh: %s\n' "$1" >&2
    exit 2
}

is_duration() {
    printf '%s\n' "$1" | grep -Eq '^([0-9]+(ms|s|m|h|d|w|y))+$'
}

script_dir=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
input=""
output=""
job=""
# sed programs: phase 1 replaces each FROM with a unique placeholder, phase 2 the placeholder
# with TO, so that mappings never chain.
phase1=""
phase2=""
seen_for=" "
seen_window=" "
n=0
applied=""

add_mapping() { # kind FROM=TO
    kind=$1
    case $2 in
        *=*) from=${2%%=*}; to=${2#*=} ;;
        *) die "--$kind expects FROM=TO, got '$2'" ;;
    esac
    is_duration "$from" || die "--$kind: '$from' is not a duration"
    is_duration "$to" || die "--$kind: '$to' is not a duration"
    n=$((n + 1))
    applied="$applied --$kind $from=$to"
    if [ "$kind" = for ]; then
        case $seen_for in *" $from "*) die "--for $from given twice" ;; esac
        seen_for="$seen_for$from "
        grep -Eq "^[[:space:]]*for:[[:space:]]*${from}[[:space:]]*\$" "$input" ||
            die "--for $from: no 'for: $from' in $input"
        phase1="$phase1
s/^\\([[:space:]]*for:[[:space:]]*\\)${from}[[:space:]]*\$/\\1@@RENDER_$n@@/"
    else
        case $seen_window in *" $from "*) die "--window $from given twice" ;; esac
        seen_window="$seen_window$from "
        grep -Eq "\\[${from}[]:]" "$input" || die "--window $from: no '[$from]' in $input"
        phase1="$phase1
s/\\[$from\\]/[@@RENDER_$n@@]/g
s/\\[$from:/[@@RENDER_$n@@:/g"
    fi
    phase2="$phase2
s/@@RENDER_$n@@/$to/g"
}

# First pass: find the input file, so that mappings can be checked against it.
for arg in "$@"; do
    case $arg in
        -h | --help) usage ;;
    esac
done
prev=""
for arg in "$@"; do
    case $prev in
        --for | --window | --job | -o) prev=""; continue ;;
    esac
    case $arg in
        --for | --window | --job | -o) prev=$arg ;;
        --for=* | --window=* | --job=*) ;;
        -*) die "unknown option '$arg' (see --help)" ;;
        *) [ -z "$input" ] || die "more than one RULES_FILE"; input=$arg ;;
    esac
done
[ -n "$input" ] || input="$script_dir/tcpstate_exporter.rules.yml"
[ -r "$input" ] || die "cannot read $input"

while [ $# -gt 0 ]; do
    case $1 in
        --for | --window)
            [ $# -ge 2 ] || die "$1 needs FROM=TO"
            add_mapping "${1#--}" "$2"
            shift 2
            ;;
        --for=* | --window=*)
            opt=${1%%=*}
            add_mapping "${opt#--}" "${1#*=}"
            shift
            ;;
        --job | --job=*)
            if [ "$1" = --job ]; then
                [ $# -ge 2 ] || die "--job needs NAME"
                job=$2
                shift 2
            else
                job=${1#--job=}
                shift
            fi
            printf '%s\n' "$job" | grep -Eq '^[A-Za-z0-9_.:/-]+$' ||
                die "--job: '$job' may only contain letters, digits and _ . : / -"
            applied="$applied --job $job"
            ;;
        -o)
            [ $# -ge 2 ] || die "-o needs a file name"
            output=$2
            shift 2
            ;;
        *) shift ;;
    esac
done

if [ -n "$job" ]; then
    grep -q 'job="tcpstate_exporter"' "$input" || die "--job: no job=\"tcpstate_exporter\" in $input"
    # '|' cannot occur in a validated job name.
    phase2="$phase2
s|job=\"tcpstate_exporter\"|job=\"$job\"|g"
fi

render() {
    if [ -n "$applied" ]; then
        printf '# Rendered by render-rules.sh%s from %s; do not edit.\n' "$applied" "$(basename -- "$input")"
    fi
    sed -e "${phase1:-b}" "$input" | sed -e "${phase2:-b}"
}

if [ -n "$output" ]; then
    tmp="$output.tmp.$$"
    render >"$tmp" || { rm -f "$tmp"; exit 2; }
    mv -- "$tmp" "$output"
else
    render
fi
