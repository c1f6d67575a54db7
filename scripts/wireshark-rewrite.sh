#!/usr/bin/env bash
# A check by hand of mirrorwatch's capture reader against Wireshark's
# writer and reader: every capture in a directory (default: the reference
# captures, ../shared/pcaps/real) is counted by capinfos, then rewritten by
# editcap as pcapng, nanosecond pcap and microsecond pcap, and the pcapng
# compressed with gzip and zstd. mirrorwatch must read the same number of
# frames as capinfos from the original, and give the same frame count and
# sessions (encapsulation, endpoints, id, packets, bytes, first and last
# packet's time) for every rewritten form.
#
#   bash scripts/wireshark-rewrite.sh [DIR]
#
# Needs tshark's tools (Debian: tshark), gzip, zstd, python3 and a release
# build (cargo build --release). Exit status 1 if anything disagrees.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-$(cd .. && pwd)/shared/pcaps/real}"
for t in editcap capinfos gzip zstd python3; do
    command -v "$t" >/dev/null || { echo "$0: $t is missing" >&2; exit 2; }
done
mw="$PWD/target/release/mirrorwatch"
[ -x "$mw" ] || { echo "$0: build first: cargo build --release" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# What mirrorwatch reads of a capture: frames, and each session's
# encapsulation, endpoints, id, packets, bytes, first and last time.
reading() {
    "$mw" replay --format json "$1" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
frames = sum(f["packets"] for f in d["files"])
keys = ("encap", "src", "dst", "id", "packets", "bytes", "first_seen", "last_seen")
sessions = sorted(tuple(str(s.get(k)) for k in keys) for s in d["sessions"])
print(frames, sessions)' || echo "unreadable"
}

bad=0
files=0
for src in "$dir"/*.pcap "$dir"/*.pcapng; do
    [ -e "$src" ] || continue
    files=$((files + 1))
    name=$(basename "$src")
    want=$(reading "$src")
    count=$(capinfos -c -M "$src" 2>/dev/null | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}')
    if [ "${want%% *}" != "$count" ]; then
        echo "$name: capinfos counts $count frames, mirrorwatch ${want%% *}"
        bad=$((bad + 1))
    fi
    for fmt in pcapng nsecpcap pcap; do
        editcap -F "$fmt" "$src" "$tmp/$name.$fmt"
    done
    gzip -kf "$tmp/$name.pcapng"
    zstd -qkf "$tmp/$name.pcapng"
    for form in pcapng nsecpcap pcap pcapng.gz pcapng.zst; do
        got=$(reading "$tmp/$name.$form")
        if [ "$got" != "$want" ]; then
            echo "$name as $form: $got, the original: $want"
            bad=$((bad + 1))
        fi
    done
done
echo "$files captures, 5 rewritten forms each: $bad disagreements"
[ "$bad" -eq 0 ]
