#!/usr/bin/env bash
# Renders a Pushpin setup on loopback into PREFIX for tools/bench/run.sh:
#   PREFIX/origin.conf   the GRIP origin (nginx, tools/bench/pushpin/origin.conf.in)
#   PREFIX/pushpin.conf  Debian's /etc/pushpin/pushpin.conf with: the proxy on 127.0.0.1:PORT,
#                        every internal port moved by OFFSET (publish API on 5561 + OFFSET), run
#                        and log folders in PREFIX, the zurl it starts itself (Debian's defaults
#                        expect a system zurl), no outgoing message rate limit.
#   PREFIX/routes        everything to the origin.
# Usage: tools/bench/pushpin/render.sh PREFIX PORT ORIGIN_PORT OFFSET
set -euo pipefail
prefix=${1:?usage: render.sh PREFIX PORT ORIGIN_PORT OFFSET}
port=${2:?} origin_port=${3:?} offset=${4:?}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$prefix/tmp" "$prefix/run" "$prefix/log"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@ORIGIN_PORT@|$origin_port|g" "$here/origin.conf.in" \
  >"$prefix/origin.conf"
echo "* 127.0.0.1:$origin_port" >"$prefix/routes"
sed -e "s|^rundir=.*|rundir=$prefix/run|" \
    -e "s|^logdir=.*|logdir=$prefix/log|" \
    -e "s|^port_offset=.*|port_offset=$offset|" \
    -e "s|^http_port=.*|http_port=127.0.0.1:$port|" \
    -e "s|^routesfile=.*|routesfile=$prefix/routes|" \
    -e "s|^services=.*|services=condure,zurl,pushpin-proxy,pushpin-handler|" \
    -e "s|^message_rate=.*|message_rate=100000000|" \
    -e "s|^message_hwm=.*|message_hwm=100000000|" \
    -e "s|^log_level=.*|log_level=1|" \
    -e "s|^\[proxy\]|[proxy]\nzurl_out_specs=ipc://$prefix/run/pushpin-zurl-in\nzurl_out_stream_specs=ipc://$prefix/run/pushpin-zurl-in-stream\nzurl_in_specs=ipc://$prefix/run/pushpin-zurl-out|" \
    /etc/pushpin/pushpin.conf >"$prefix/pushpin.conf"
echo "$prefix/pushpin.conf"
