#!/usr/bin/env bash
# Regenerates the scenario captures and their golden reports. Run from the
# repository root after a deliberate change of the generator or the output:
#   bash pcaps/regenerate.sh
# then review `git diff pcaps/` before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=target/release/mirrorwatch
rm -f pcaps/*.pcap pcaps/*.pcapng pcaps/*.json
"$bin" synth --out pcaps 2>/dev/null
for f in pcaps/*.pcap pcaps/*.pcapng; do
    stem=${f%.*}
    "$bin" replay --format json "$f" > "$stem.json"
done
ls pcaps
