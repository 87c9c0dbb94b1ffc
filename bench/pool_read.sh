#!/usr/bin/env bash
# Offline throughput of the worker pool: `btblocker --read` of the large capture inline and with
# the pool (1, 2 and 4 workers), side by side in one run, with peak RSS.
#
#   bash bench/pool_read.sh [CAPTURE] [RUNS] [WORKER COUNTS]
#
# Without CAPTURE it builds bench/out/big.pcap from ../shared/corpus/pcap with
# ../shared/tools/make_big_pcap.sh (needs wireshark-common). The runs are interleaved (inline,
# pool 1, 2, 4, inline, …) so that background load hits every setting alike; medians of RUNS
# (default 5) are printed, with each pool's speed-up over inline (WORKER COUNTS: default "1 2 4"):
#   - "analysis": packets/s from btblocker's own summary (reading, analysis and draining the
#     pool; process and worker start-up excluded);
#   - "wall": packets/s over the whole process, start-up included;
#   - peak RSS of the process (all threads), from /usr/bin/time.
# Targets (issue 12): on 2 cores at least no slower than inline; ≥ 1.8x with 2 workers on 4+ cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/big_capture.sh
capture=${1:-bench/out/big.pcap}
runs=${2:-5}
read -r -a counts <<<"${3:-1 2 4}"
big_capture pool_read "$capture"
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing: apt install time" >&2; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
settings=(inline "${counts[@]}")
run() { # setting → "analysis_pps wall_s rss_kib packets"
  local extra=()
  [ "$1" = inline ] || extra=(--worker-pool --workers "$1")
  /usr/bin/time -f '%e %M' -o "$out/time" \
    deno run --allow-ffi --allow-read --allow-env main.ts --read "$capture" --format jsonl \
    --no-progress "${extra[@]}" >"$out/events"
  local stats
  stats=$(tail -n1 "$out/events")
  local pps packets
  pps=$(sed -E 's/.*"packets_per_second":([0-9]+).*/\1/' <<<"$stats")
  packets=$(sed -E 's/.*"packets":([0-9]+).*/\1/' <<<"$stats")
  echo "$pps $(cat "$out/time") $packets $(($(wc -l <"$out/events") - 1))"
}
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

for s in "${settings[@]}"; do run "$s" >/dev/null; done # warm the page cache and deno's cache
for i in $(seq "$runs"); do
  for s in "${settings[@]}"; do run "$s" >>"$out/$s"; done
done

printf '%s, %s runs each (medians)\n' "$capture" "$runs"
printf '%-10s %14s %8s %14s %12s %10s %11s\n' setting "analysis pk/s" speed-up "wall pk/s" \
  "peak RSS" packets detections
inline_rate=0
best=0
best_setting=
for s in "${settings[@]}"; do
  pps=$(awk '{print $1}' "$out/$s" | median)
  wall=$(awk '{print $2}' "$out/$s" | median)
  rss=$(awk '{print $3}' "$out/$s" | median)
  packets=$(awk '{print $4}' "$out/$s" | median)
  detections=$(awk '{print $5}' "$out/$s" | median)
  wall_rate=$(awk -v p="$packets" -v t="$wall" 'BEGIN {printf "%d", p / t}')
  label=$([ "$s" = inline ] && echo inline || echo "pool $s")
  [ "$s" != inline ] || inline_rate=$pps
  printf '%-10s %14d %7.2fx %14d %9.1f MiB %10d %11d\n' "$label" "$pps" \
    "$(awk -v a="$pps" -v b="$inline_rate" 'BEGIN {print a / b}')" "$wall_rate" \
    "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" "$packets" "$detections"
  if [ "$s" = inline ]; then
    :
  elif [ "$pps" -gt "$best" ]; then
    best=$pps
    best_setting=$s
  fi
done
awk -v a="$best" -v b="$inline_rate" -v s="$best_setting" -v c="$(nproc)" \
  'BEGIN {t = c >= 4 ? "at least 1.8 with 2 workers" : "at least 1.0"
    printf "best pool (%s workers) / inline: %.2f (target on %d cores: %s)\n", s, a / b, c, t}'
