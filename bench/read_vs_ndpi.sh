#!/usr/bin/env bash
# Offline throughput: `btblocker --read` against ndpiReader on the same large capture, same run.
#
#   bash bench/read_vs_ndpi.sh [CAPTURE] [RUNS]
#
# Without CAPTURE it builds bench/out/big.pcap from ../shared/corpus/pcap with
# ../shared/tools/make_big_pcap.sh (needs wireshark-common). Prints packets/s of each tool
# (median of RUNS, default 3) and the ratio. Target: btblocker ≥ 2 × ndpiReader, single-threaded.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/big_capture.sh
capture=${1:-bench/out/big.pcap}
runs=${2:-3}
big_capture read_vs_ndpi "$capture"
command -v ndpiReader >/dev/null || { echo "ndpiReader missing: apt install libndpi-bin" >&2; exit 1; }

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

packets=$(deno run --allow-ffi --allow-read --allow-env main.ts --read "$capture" --format jsonl \
  | tail -n1 | sed -E 's/.*"packets":([0-9]+).*/\1/')

bt_times=() nd_times=()
for _ in $(seq "$runs"); do
  t0=$(now)
  deno run --allow-ffi --allow-read --allow-env main.ts --read "$capture" --format jsonl >/dev/null
  t1=$(now)
  ndpiReader -q -i "$capture" >/dev/null 2>&1
  t2=$(now)
  bt_times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
  nd_times+=("$(awk -v a="$t1" -v b="$t2" 'BEGIN {print b - a}')")
done
bt=$(printf '%s\n' "${bt_times[@]}" | median)
nd=$(printf '%s\n' "${nd_times[@]}" | median)
bt_rate=$(awk -v p="$packets" -v t="$bt" 'BEGIN {printf "%d", p / t}')
nd_rate=$(awk -v p="$packets" -v t="$nd" 'BEGIN {printf "%d", p / t}')
printf '%-28s %10s %12s %14s\n' "tool (wall clock, median of $runs)" "seconds" "packets" "packets/s"
printf '%-28s %10.3f %12d %14d\n' "btblocker --read" "$bt" "$packets" "$bt_rate"
printf '%-28s %10.3f %12d %14d\n' "ndpiReader -q -i" "$nd" "$packets" "$nd_rate"
awk -v a="$bt_rate" -v b="$nd_rate" 'BEGIN {printf "ratio btblocker / ndpiReader: %.2f (target >= 2)\n", a / b}'
