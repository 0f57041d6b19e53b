#!/usr/bin/env bash
# Installs the Debian 12 packages the project needs to build, run and test.
# Does nothing (and needs no network) when they are all present already.
set -euo pipefail
packages=(
  cmake make g++ pkg-config git python3 curl iproute2 procps util-linux
  prometheus-cpp-dev libmnl-dev libyaml-cpp-dev libspdlog-dev libgtest-dev libssl-dev
  libcrypt-dev zlib1g-dev libboost-dev
  # secure endpoint test: certificates, bcrypt hashes
  openssl apache2-utils
  # fuzzing (libFuzzer, ASan, UBSan) and the ThreadSanitizer build
  clang libclang-rt-14-dev llvm
  libbenchmark-dev prometheus prometheus-alertmanager
  # deployment checks: systemd-analyze, the manifest validator (node)
  systemd nodejs
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm comes with some Node.js builds (nodesource) and conflicts with Debian's then.
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
