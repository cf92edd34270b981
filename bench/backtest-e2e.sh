#!/usr/bin/env bash
# End-to-end backtest timing: sma_cross on 10 symbols of generated 1m bars, from the Parquet
# store to every output file, recorded in the default SQLite registry, through the release
# binary: wall time and peak memory for 50, 250, 500 and 1000 trading days, each run RUNS times
# (3 by default; the host's speed swings from one run to the next).
# Usage: [RUNS=n] bash bench/backtest-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p openbell-cli
bin="${CARGO_TARGET_DIR:-target}/release/openbell"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" data --data "$work/data" generate --symbols 10 --days 1000 --start 2022-01-03 --seed 1 >/dev/null
# The 50th, 250th, 500th and 1000th trading day from 2022-01-03.
for end in 2022-03-15 2022-12-30 2023-12-29 2025-12-26; do
  cat > "$work/bench.toml" <<TOML
[session]
start = "2022-01-03"
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
  for run in $(seq 1 "${RUNS:-3}"); do
    echo "== to $end, run $run"
    rm -rf "$work"/openbell.db* "$work/out-$end"
    OPENBELL_HOME="$work" /usr/bin/time -f "wall %e s, peak RSS %M kB" "$bin" backtest --config "$work/bench.toml" \
      --data "$work/data" --out "$work/out-$end" 2>&1 | grep -E "^(bars|trading|registry|wall)"
  done
done
