#!/usr/bin/env bash
# Runs the benchmarks and regenerates docs/benchmarks.md (as root). See
# bench/run.py and `bench/run.sh --help`.
exec python3 "$(dirname "$0")/run.py" "$@"
