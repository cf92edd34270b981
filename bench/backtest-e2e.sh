#!/usr/bin/env bash
# End-to-end backtest timing: sma_cross on 10 symbols x 250 trading days of generated 1m bars,
# from the Parquet store to every output file, through the release binary, with peak memory
# for 50 and 250 days.
# Usage: bash bench/backtest-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p openbell-cli
bin="${CARGO_TARGET_DIR:-target}/release/openbell"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" data --data "$work/data" generate --symbols 10 --days 250 --start 2024-01-02 --seed 1 >/dev/null
for end in 2024-03-14 2024-12-27; do
  cat > "$work/bench.toml" <<TOML
[session]
start = "2024-01-02"
end = "$end"
[universe]
all = true
[strategy]
name = "sma_cross"
fast = 10
slow = 30
qty = 100
[broker]
initial_cash = 10000000
TOML
  OPENBELL_HOME="$work" /usr/bin/time -f "wall %e s, peak RSS %M kB" "$bin" backtest --config "$work/bench.toml" \
    --data "$work/data" --out "$work/out-$end" 2>&1 | grep -E "^(bars|trading|registry|wall)"
done
