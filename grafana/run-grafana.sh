#!/bin/sh
# Starts a local Grafana with this folder's provisioning: the Prometheus
# datasource, the mirrorwatch dashboard and the Grafana-managed alert rules
# load at start-up, no clicks needed.
#
#   PROMETHEUS_URL=http://prom.example:9090 grafana/run-grafana.sh --homepath /usr/share/grafana
#
# PROMETHEUS_URL defaults to http://localhost:9090 (Grafana's provisioning
# files cannot carry a default themselves). Extra arguments go to Grafana.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export PROMETHEUS_URL="${PROMETHEUS_URL:-http://localhost:9090}"
export GF_PATHS_PROVISIONING="$here/provisioning"
if command -v grafana >/dev/null 2>&1; then
    exec grafana server "$@"
fi
exec grafana-server "$@"
