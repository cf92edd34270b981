#!/usr/bin/env bash
# End-to-end engine timing: 10 symbols x 250 trading days of 1m bars from `openbell data
# generate`, 5m and 15m derived bars, three indicators per symbol, no orders, through the
# release binary (`openbell replay`), with peak memory for 50 and 250 days.
# Usage: bash bench/engine-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p openbell-cli
bin="${CARGO_TARGET_DIR:-target}/release/openbell"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" data --data "$work" generate --symbols 10 --days 250 --start 2024-01-02 --seed 1 >/dev/null
for to in 2024-03-14 2024-12-27; do
  /usr/bin/time -f "peak RSS %M kB" "$bin" replay --data "$work" --from 2024-01-02 --to "$to" \
    --derived 5m,15m --indicator 'sma:period=20@1m' --indicator 'ema:period=20@5m' --indicator 'rsi@15m' 2>&1
done
