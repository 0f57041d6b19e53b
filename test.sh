#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test.
# Usage: ./test.sh            (BUILD_DIR=build by default)
set -euo pipefail
cd "$(dirname "$0")"
build=${BUILD_DIR:-build}
.ci/install-deps.sh --test
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTCPSTATE_BUILD_TESTS=ON \
  -DTCPSTATE_BUILD_BENCH=ON -DTCPSTATE_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure --timeout 600
