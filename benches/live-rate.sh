#!/usr/bin/env bash
# Live capture rate over a veth pair: for each tcpreplay rate, how many
# packets mirrorwatch live and tcpdump -w /dev/null receive and how many the
# kernel drops. Needs root, iproute2, tcpreplay, tcpdump, a release build.
#   bash benches/live-rate.sh [CAPTURE] [RATES...]
# RATES are packets per second, or "top" for tcpreplay --topspeed.
set -euo pipefail
cd "$(dirname "$0")/.."
cap=${1:-target/bench-data/mixed-100000.pcap}
shift || true
rates=("${@:-50000 100000 200000 400000 top}")
[ -f "$cap" ] || target/release/mirrorwatch synth --mixed --packets 100000 --out "$cap"
n=$(target/release/mirrorwatch replay --format json "$cap" | python3 -c 'import json,sys; print(json.load(sys.stdin)["packets"])')
ns=mwrate; h=mwrateh; p=mwratep
mw=""
cleanup() {
    [ -n "$mw" ] && kill "$mw" 2>/dev/null || true
    ip link del $h 2>/dev/null || true
    ip netns del $ns 2>/dev/null || true
}
trap cleanup EXIT
cleanup
ip netns add $ns; ip link add $h type veth peer name $p; ip link set $p netns $ns
sysctl -qw net.ipv6.conf.$h.disable_ipv6=1; ip link set $h up; ip netns exec $ns ip link set $p up
send() {
    local speed=(--topspeed)
    [ "$1" = top ] || speed=(--pps="$1")
    { ip netns exec $ns tcpreplay "${speed[@]}" -i $p "$cap" 2>&1 || true; } | grep -oE "[0-9.]+ pps" | head -1 || true
}
printf "%-8s %-10s %-14s %-10s %-12s %-14s %-10s %s\n" rate sent_pps mirrorwatch drops cpu_ns/pkt tcpdump drops ""
for r in ${rates[@]}; do
    port=19799
    target/release/mirrorwatch live -i $h --listen 127.0.0.1:$port 2>/dev/null & mw=$!
    sleep 1
    t0=$(awk '{print $14+$15}' /proc/$mw/stat)
    pps=$(send "$r")
    sleep 2.5
    m=$(curl -s 127.0.0.1:$port/metrics)
    t1=$(awk '{print $14+$15}' /proc/$mw/stat)
    got=$(echo "$m" | awk '/^mirrorwatch_process_packets_total/ {print $2}')
    drop=$(echo "$m" | awk -v i="$h" '$1 == "mirrorwatch_capture_kernel_dropped_packets_total{interface=\""i"\"}" {print $2}')
    kill -TERM $mw; wait $mw 2>/dev/null || true
    ticks=$(getconf CLK_TCK)
    cpu=$(python3 -c "print(round(($t1-$t0)/$ticks*1e9/max(1,$got)))")
    tcpdump -i $h -w /dev/null -q 2>/tmp/mwrate-td.txt & td=$!
    sleep 1
    send "$r" >/dev/null
    sleep 1
    kill -INT $td; wait $td 2>/dev/null || true
    tdgot=$(grep -oE "^[0-9]+ packets captured" /tmp/mwrate-td.txt | grep -oE "^[0-9]+")
    tddrop=$(grep -oE "^[0-9]+ packets dropped by kernel" /tmp/mwrate-td.txt | grep -oE "^[0-9]+")
    printf "%-8s %-10s %-14s %-10s %-12s %-14s %-10s\n" "$r" "${pps:-?}" "$got/$n" "$drop" "$cpu" "$tdgot/$n" "$tddrop"
done
