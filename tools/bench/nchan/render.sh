#!/usr/bin/env bash
# Renders tools/bench/nchan/nginx.conf.in into PREFIX/nginx.conf for a loopback PORT and creates the
# folders nginx needs there. Usage: tools/bench/nchan/render.sh PREFIX PORT
set -euo pipefail
prefix=${1:?usage: render.sh PREFIX PORT}
port=${2:?usage: render.sh PREFIX PORT}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$prefix/tmp" "$prefix/logs"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@PORT@|$port|g" "$here/nginx.conf.in" >"$prefix/nginx.conf"
echo "$prefix/nginx.conf"
