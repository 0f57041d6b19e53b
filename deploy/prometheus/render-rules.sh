#!/bin/sh
# render-rules.sh - emit a copy of tcpstate_exporter.rules.yml with other `for:` durations,
# range windows, alert thresholds and scrape job name, leaving the shipped file untouched.
#
# Usage:
#   render-rules.sh [--for FROM=TO]... [--window FROM=TO]... [--threshold ALERT=FROM:TO]...
#                   [--job NAME] [-o OUTPUT] [RULES_FILE]
#
#   --for FROM=TO      every alert with `for: FROM` gets `for: TO`
#   --window FROM=TO   every range selector `[FROM]` (and subquery `[FROM:...]`) becomes `[TO]`
#   --threshold ALERT=FROM:TO
#                      the numeric literal FROM becomes TO in the `expr` of alert ALERT only
#                      (every rule of that name); other alerts, label values and durations
#                      such as [30m] are not touched
#   --job NAME         the job matcher of TcpstateExporterDown, job="tcpstate_exporter",
#                      becomes job="NAME"
#   -o OUTPUT          write to OUTPUT instead of standard output
#   RULES_FILE         default: tcpstate_exporter.rules.yml beside this script
#
# Durations are Prometheus durations (30s, 5m, 1h, 1h30m, ...). A --for or --window mapping is
# keyed by the duration value, not by alert: `--for 15m=1m` changes every alert whose `for:` is
# 15m. A --threshold mapping is keyed by alert name and number: FROM and TO are plain decimal
# numbers (1800, 0.9), FROM written exactly as in the file; it replaces whole numbers only
# (FROM=10 does not touch 100, 10m or 0.10). All mappings apply at once, so
# `--for 15m=5m --for 5m=1m` turns 15m into 5m and 5m into 1m (no chaining), and so do
# thresholds. A FROM that does not occur in the file (for --threshold: in that alert's expr) is
# an error (catches typos). When anything is mapped, one comment line naming the arguments is
# put first; nothing else changes, and the same arguments always give the same output.
#
# Example (end-to-end test with short windows and a CLOSE_WAIT age limit of 15 s):
#   render-rules.sh --for 15m=1m --for 10m=1m --for 5m=30s --window 30m=3m --window 5m=1m \
#     --threshold TcpstateCloseWaitLingering=1800:15 \
#     --job tcpstate -o /tmp/rules.yml && promtool check rules /tmp/rules.yml
#
# Exit status: 0 on success (and for --help), 2 on a usage error.

set -eu

usage() {
    sed -n '5,18p' "$0" | sed 's/^# \{0,1\}//'
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
# --threshold mappings, "ALERT=FROM:TO ALERT=FROM:TO ...", applied by the awk program below.
thresholds=""
seen_threshold=" "

# awk program for --threshold: in the expr of each alert named in `maps`, replace whole numeric
# literals (outside strings and comments) by their mapping. mode=check prints nothing but a
# message per mapping that matches no literal, and exits 1 if there is one.
# shellcheck disable=SC2016 # an awk program, not a shell expansion
threshold_awk='
BEGIN {
    n = split(maps, m, " ")
    for (i = 1; i <= n; i++) {
        eq = index(m[i], "="); a = substr(m[i], 1, eq - 1); rest = substr(m[i], eq + 1)
        c = index(rest, ":")
        k = a SUBSEP substr(rest, 1, c - 1)
        to[k] = substr(rest, c + 1); want[a] = 1; keys[i] = k
    }
    alert = ""; inexpr = 0
}
function out(s) { if (mode != "check") print s }
function indent(s) { match(s, /^ */); return RLENGTH }
function subst(text,   r, i, j, len, ch, q, tok) {
    r = ""; q = ""; i = 1; len = length(text)
    while (i <= len) {
        ch = substr(text, i, 1)
        if (q != "") {                                   # inside a string: copy
            r = r ch
            if (ch == "\\") { r = r substr(text, i + 1, 1); i += 2; continue }
            if (ch == q) q = ""
            i++; continue
        }
        if (ch == "\"" || ch == "\047" || ch == "`") { q = ch; r = r ch; i++; continue }
        if (ch == "#") return r substr(text, i)          # comment: copy the rest
        if (ch ~ /[A-Za-z_:]/) {                         # identifier: copy whole
            j = i; while (j <= len && substr(text, j, 1) ~ /[A-Za-z0-9_:]/) j++
            r = r substr(text, i, j - i); i = j; continue
        }
        if (ch ~ /[0-9]/ && (i == 1 || substr(text, i - 1, 1) != ".")) {
            j = i; while (j <= len && substr(text, j, 1) ~ /[A-Za-z0-9_.]/) j++
            tok = substr(text, i, j - i)                 # 1800, 0.9, but also 30m, 1e3
            if ((alert SUBSEP tok) in to) { r = r to[alert SUBSEP tok]; used[alert SUBSEP tok] = 1 }
            else r = r tok
            i = j; continue
        }
        r = r ch; i++
    }
    return r
}
{
    line = $0
    if (line ~ /^ *- (alert|record):/) {
        inexpr = 0; alert = ""
        if (line ~ /^ *- alert:/) {
            alert = line; sub(/^ *- alert: */, "", alert); sub(/ *$/, "", alert); seen[alert] = 1
        }
        out(line); next
    }
    if (inexpr) {
        if (line ~ /^ *$/) { out(line); next }
        if (indent(line) > exprindent) { out(alert in want ? subst(line) : line); next }
        inexpr = 0
    }
    if (alert != "" && line ~ /^ *expr:/) {
        exprindent = indent(line)
        rest = line; sub(/^ *expr: */, "", rest)
        if (rest ~ /^[|>][-+]? *$/) { inexpr = 1; out(line); next }
        if (alert in want) {
            out(substr(line, 1, length(line) - length(rest)) subst(rest)); next
        }
    }
    out(line)
}
END {
    if (mode != "check") exit 0
    bad = 0
    for (i = 1; i <= n; i++) {
        split(keys[i], kk, SUBSEP)
        if (!(kk[1] in seen)) { print "no alert " kk[1]; bad = 1 }
        else if (!(keys[i] in used)) { print "no number " kk[2] " in the expr of " kk[1]; bad = 1 }
    }
    exit bad
}'

add_threshold() { # ALERT=FROM:TO
    case $1 in
        *=*:*) alert=${1%%=*}; from=${1#*=}; to=${from#*:}; from=${from%%:*} ;;
        *) die "--threshold expects ALERT=FROM:TO, got '$1'" ;;
    esac
    printf '%s\n' "$alert" | grep -Eq '^[A-Za-z_][A-Za-z0-9_]*$' ||
        die "--threshold: '$alert' is not an alert name"
    for v in "$from" "$to"; do
        printf '%s\n' "$v" | grep -Eq '^[0-9]+(\.[0-9]+)?$' ||
            die "--threshold $alert: '$v' is not a plain decimal number"
    done
    case $seen_threshold in *" $alert=$from "*) die "--threshold $alert=$from given twice" ;; esac
    seen_threshold="$seen_threshold$alert=$from "
    thresholds="${thresholds:+$thresholds }$alert=$from:$to"
    applied="$applied --threshold $alert=$from:$to"
}

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
        --for | --window | --threshold | --job | -o) prev=""; continue ;;
    esac
    case $arg in
        --for | --window | --threshold | --job | -o) prev=$arg ;;
        --for=* | --window=* | --threshold=* | --job=*) ;;
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
        --threshold)
            [ $# -ge 2 ] || die "--threshold needs ALERT=FROM:TO"
            add_threshold "$2"
            shift 2
            ;;
        --threshold=*)
            add_threshold "${1#--threshold=}"
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

if [ -n "$thresholds" ]; then
    # Checked against the input: --for/--window/--job never create or remove a plain number.
    missing=$(awk -v mode=check -v maps="$thresholds" "$threshold_awk" "$input") ||
        die "--threshold: $(printf '%s' "$missing" | tr '\n' ';' | sed 's/;$//; s/;/; /g') in $input"
fi

render() {
    if [ -n "$applied" ]; then
        printf '# Rendered by render-rules.sh%s from %s; do not edit.\n' "$applied" "$(basename -- "$input")"
    fi
    if [ -n "$thresholds" ]; then
        sed -e "${phase1:-b}" "$input" | sed -e "${phase2:-b}" |
            awk -v mode=render -v maps="$thresholds" "$threshold_awk"
    else
        sed -e "${phase1:-b}" "$input" | sed -e "${phase2:-b}"
    fi
}

if [ -n "$output" ]; then
    tmp="$output.tmp.$$"
    render >"$tmp" || { rm -f "$tmp"; exit 2; }
    mv -- "$tmp" "$output"
else
    render
fi
