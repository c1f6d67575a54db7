#!/usr/bin/env bash
# Regenerates docs/report.png: the incident report of the AWS VXLAN mirror
# scenario with the CloudTrail record that made it, rendered by headless
# Chromium (Debian `chromium`). Run from anywhere:
#   bash scripts/screenshot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    echo "scripts/screenshot.sh: chromium not installed (apt-get install chromium)" >&2
    exit 1
fi
cargo build -q --bin mirrorwatch
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target/debug/mirrorwatch"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A fixed "generated" time and relative paths: the picture changes only
# when the report does.
SOURCE_DATE_EPOCH=1767225600 "$bin" report --config pcaps/golden.toml \
    --logs tests/fixtures/logs/aws-vxlan-mirror-cloudtrail.json \
    --html "$tmp/report.html" pcaps/aws-vxlan-mirror.pcap
"$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --disable-background-networking --disable-component-update --disable-sync \
    --no-first-run --hide-scrollbars --user-data-dir="$tmp/profile" \
    --window-size=1024,1400 --screenshot="$tmp/report.png" \
    "file://$tmp/report.html" 2>/dev/null
mkdir -p docs
cp "$tmp/report.png" docs/report.png
ls -l docs/report.png
