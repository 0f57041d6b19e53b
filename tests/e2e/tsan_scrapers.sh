#!/usr/bin/env bash
# Builds the ThreadSanitizer variant of the exporter (and sockpop) with clang
# into its own build directory, incrementally, then runs concurrency_test.py
# against it: 50 parallel scrapers while the poller publishes every 100 ms,
# every scrape complete, no ThreadSanitizer report, clean SIGTERM exit.
#
# Usage: tests/e2e/tsan_scrapers.sh TSAN_BUILD_DIR [concurrency_test.py options]
# Env:   TSAN_CXX (default clang++), TSAN_JOBS (default 2)
# Exit:  0 pass, 1 fail, 77 skipped (not root, or no clang++ / TSan runtime).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${1:?usage: tsan_scrapers.sh TSAN_BUILD_DIR [options]}
shift
cxx=${TSAN_CXX:-clang++}

if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root for network namespaces"; exit 77; fi
if ! command -v "$cxx" >/dev/null; then
  echo "SKIP: $cxx not found (install clang and libclang-rt-14-dev)"; exit 77
fi
if ! echo 'int main(){}' | "$cxx" -x c++ -fsanitize=thread - -o /dev/null 2>/dev/null; then
  echo "SKIP: $cxx cannot link -fsanitize=thread (install libclang-rt-14-dev)"; exit 77
fi

mkdir -p "$build"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
  -DTCPSTATE_SANITIZE=thread -DTCPSTATE_BUILD_TESTS=OFF -DTCPSTATE_BUILD_BENCH=ON \
  >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; echo "TSan configure failed"; exit 1; }
start=$(date +%s)
cmake --build "$build" -j"${TSAN_JOBS:-2}" --target tcpstate_exporter sockpop \
  >"$build/build.log" 2>&1 || { tail -60 "$build/build.log"; echo "TSan build failed"; exit 1; }
echo "TSan build up to date in $(( $(date +%s) - start ))s ($build)"
exec python3 "$here/concurrency_test.py" "$build/tcpstate_exporter" \
  "$build/tools/sockpop/sockpop" "$@"
