#!/usr/bin/env bash
# Regenerates the scenario captures and their golden reports and alerts.
# Run from anywhere after a deliberate change of the generator or the
# output, then review `git diff pcaps/` before committing:
#   bash pcaps/regenerate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q
bin=target/debug/mirrorwatch
rm -f pcaps/*.pcap pcaps/*.pcapng pcaps/*.json pcaps/*.alerts.jsonl
"$bin" synth --out pcaps 2>/dev/null
for f in pcaps/*.pcap pcaps/*.pcapng; do
    stem=${f%.*}
    "$bin" replay --config pcaps/golden.toml --format json --alerts "$stem.alerts.jsonl" "$f" > "$stem.json"
done
ls pcaps
