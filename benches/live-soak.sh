#!/usr/bin/env bash
# Live soak: mirrorwatch live on a veth while tcpreplay sends at a constant
# rate; prints RSS, packets, kernel drops and sessions every 30 s.
# Needs root, iproute2, tcpreplay, curl and a release build.
#   bash benches/live-soak.sh [SECONDS] [PPS] [CAPTURE]
set -u
cd "$(dirname "$0")/.."
secs=${1:-600}; pps=${2:-20000}; cap=${3:-target/bench-data/mixed-100000-sendable.pcap}
ns=mwsoak; h=mwsoakh; p=mwsoakp; port=19820
[ -f "$cap" ] || { echo "capture $cap missing (tcpreplay refuses zero-length frames: filter them out)"; exit 2; }
ip netns add $ns; ip link add $h type veth peer name $p; ip link set $p netns $ns
sysctl -qw net.ipv6.conf.$h.disable_ipv6=1; ip link set $h up; ip netns exec $ns ip link set $p up
target/release/mirrorwatch live -i $h --listen 127.0.0.1:$port 2>/dev/null & mw=$!
trap 'kill -TERM $mw 2>/dev/null; wait $mw 2>/dev/null; ip link del $h 2>/dev/null; ip netns del $ns 2>/dev/null' EXIT
sleep 1
ip netns exec $ns timeout "$secs" tcpreplay -q --pps="$pps" --loop=100000 -i $p "$cap" >/dev/null 2>&1 &
for i in $(seq 0 $((secs / 30))); do
    m=$(curl -s 127.0.0.1:$port/metrics)
    echo "t=$((i * 30))s rss_kib=$(awk '/VmRSS/ {print $2}' /proc/$mw/status)" \
        "packets=$(echo "$m" | awk '/^mirrorwatch_process_packets_total/ {print $2}')" \
        "kernel_drops=$(echo "$m" | awk '/^mirrorwatch_capture_kernel_dropped_packets_total/ {print $2}')" \
        "sessions=$(echo "$m" | awk '/^mirrorwatch_table_entries\{table="sessions"\}/ {print $2}')"
    sleep 30
done
