#!/usr/bin/env bash
# Installs what the build and the test suites need, only when something is missing, so that
# `make run` and `make test` work on a fresh Debian 12 machine and cost nothing on the next run.
set -euo pipefail

build_packages=(
  cmake ninja-build g++ pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev zlib1g-dev libnghttp2-dev libhiredis-dev
  libspdlog-dev libcli11-dev libtomlplusplus-dev librocksdb-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
test_packages=(curl nghttp2-client openssl python3-websockets clang libclang-rt-14-dev chromium)

want=("${build_packages[@]}")
if [[ "${1:-}" == "--test" ]]; then
  want+=("${test_packages[@]}")
  # Node may come from another repository (with npm inside); ask Debian only when it is missing.
  command -v node >/dev/null || want+=(nodejs)
  command -v npm >/dev/null || want+=(npm)
fi

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ "${1:-}" == "--test" && ! -d node_modules/eventsource ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
