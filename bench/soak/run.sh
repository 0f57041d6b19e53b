#!/bin/sh
# Soak test of the exporter (docs/reliability.md, "Soak run"). As root:
#   bench/soak/run.sh [DURATION] [EXPORTER] [soak.py options...]
# DURATION defaults to 30m (e.g. 180s, 30m, 2h), EXPORTER to
# build/tcpstate_exporter; sockpop and soak_procchurn are taken from the same
# build directory.
# Writes bench/soak/results/soak-<time>.csv, .summary.md and .exporter.log
# (not committed); exit status 0 = pass, 1 = fail, 2 = could not run.
# `bench/soak/run.sh --help` lists every option.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
duration=30m
exporter=$here/../../build/tcpstate_exporter
case ${1:-} in -*|"") ;; *) duration=$1; shift ;; esac
case ${1:-} in -*|"") ;; *) exporter=$1; shift ;; esac
exec python3 "$here/soak.py" --duration "$duration" --exporter "$exporter" "$@"
