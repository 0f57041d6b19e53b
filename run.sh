#!/usr/bin/env bash
# Installs what is missing, builds the exporter and runs it with the default
# configuration (config/tcpstate_exporter.yml). Extra arguments are passed on,
# e.g. ./run.sh --web.listen-address 127.0.0.1:9930
set -euo pipefail
cd "$(dirname "$0")"
build=${BUILD_DIR:-build}
.ci/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTCPSTATE_BUILD_TESTS=OFF \
  -DTCPSTATE_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target tcpstate_exporter
exec "$build/tcpstate_exporter" --config.file config/tcpstate_exporter.yml "$@"
