#!/usr/bin/env bash
# End-to-end bar store timing: 10 symbols x 250 trading days of 1m bars through the release
# binary. generate -> export CSV -> import -> resample 1m->5m -> decode (fingerprint).
# Usage: bash bench/data-e2e.sh   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p openbell-cli
bin="${CARGO_TARGET_DIR:-target}/release/openbell"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
symbols=10
days=250

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l; }

t0=$(now)
"$bin" data --data "$work/gen" generate --symbols $symbols --days $days --start 2024-01-02 --seed 1 >/dev/null
t1=$(now)
mkdir -p "$work/csv"
for i in $(seq -f "%03g" 1 $symbols); do
  "$bin" data --data "$work/gen" export --symbol "SIM$i" > "$work/csv/SIM${i}_1m.csv"
done
t2=$(now)
"$bin" data --data "$work/store" import "$work"/csv/*.csv >/dev/null
t3=$(now)
for i in $(seq -f "%03g" 1 $symbols); do
  "$bin" data --data "$work/store" resample --symbol "SIM$i" --to-interval 5m >/dev/null
done
t4=$(now)
decode_total=0
for i in $(seq -f "%03g" 1 $symbols); do
  "$bin" data --data "$work/store" fingerprint --symbol "SIM$i" >/dev/null
done
t5=$(now)

bars=$("$bin" data --data "$work/store" ls --format csv | awk -F, '$2=="1m" {s+=$6} END {print s}')
bytes_1m=$("$bin" data --data "$work/store" ls --format csv | awk -F, '$2=="1m" {s+=$7} END {print s}')
csv_bytes=$(du -cb "$work"/csv/*.csv | tail -1 | cut -f1)
rate() { printf '%.0f' "$(echo "$1 / $2" | bc -l)"; }
echo "| step | time | rate |"
echo "|---|---|---|"
printf '| generate %s bars | %.2f s | %s bars/s |\n' "$bars" "$(elapsed "$t0" "$t1")" "$(rate "$bars" "$(elapsed "$t0" "$t1")")"
printf '| export to CSV (%s MB) | %.2f s | %s bars/s |\n' "$((csv_bytes / 1000000))" "$(elapsed "$t1" "$t2")" "$(rate "$bars" "$(elapsed "$t1" "$t2")")"
printf '| import CSV (parse, validate, write) | %.2f s | %s rows/s |\n' "$(elapsed "$t2" "$t3")" "$(rate "$bars" "$(elapsed "$t2" "$t3")")"
printf '| resample 1m -> 5m | %.2f s | %s bars/s |\n' "$(elapsed "$t3" "$t4")" "$(rate "$bars" "$(elapsed "$t3" "$t4")")"
printf '| decode + SHA-256 fingerprint | %.2f s | %s bars/s |\n' "$(elapsed "$t4" "$t5")" "$(rate "$bars" "$(elapsed "$t4" "$t5")")"
printf '| store size, 1m series | %s MB | %.1f bytes/bar |\n' "$(echo "scale=1; $bytes_1m / 1000000" | bc)" "$(echo "$bytes_1m / $bars" | bc -l)"
