#!/usr/bin/env bash
# Installs the Debian 12 packages the project needs.
#   .ci/install-deps.sh          build and runtime packages only (what ./run.sh needs)
#   .ci/install-deps.sh --test   those plus the test tools (what ./test.sh needs)
# Does nothing (and needs no network) when they are all present already.
set -euo pipefail
run_packages=(
  # build: compiler, build system, libraries the exporter links
  cmake make g++ pkg-config
  prometheus-cpp-dev libmnl-dev libyaml-cpp-dev libspdlog-dev libssl-dev libcrypt-dev zlib1g-dev libre2-dev
  libboost-dev  # Beast/Asio, header-only (the HTTP server)
)
test_packages=(
  git python3 curl iproute2 procps util-linux libgtest-dev
  # secure endpoint test: certificates, bcrypt hashes
  openssl apache2-utils
  # fuzzing (libFuzzer, ASan, UBSan) and the ThreadSanitizer build
  clang libclang-rt-14-dev llvm
  libbenchmark-dev prometheus prometheus-alertmanager
  # the mixin (mixin/generate.sh, mixin_drift, mixin_config) and YAML checks of its output
  jsonnet python3-yaml
  # deployment checks: systemd-analyze, the manifest validator (node)
  systemd nodejs
  # drill-down pages test: a real browser loads them; their JSON checked by schema
  chromium python3-jsonschema
)
packages=("${run_packages[@]}")
want_npm=0
if [ "${1:-}" = --test ]; then
  packages+=("${test_packages[@]}")
  want_npm=1
elif [ -n "${1:-}" ]; then
  echo "usage: $0 [--test]" >&2
  exit 2
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm comes with some Node.js builds (nodesource) and conflicts with Debian's then.
if [ "$want_npm" = 1 ]; then
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
