#!/usr/bin/env bash
# Memory of live mode with the worker pool under a steady replay: btblocker captures one end of
# a veth pair in a network namespace while tcpreplay loops the large capture into the other end
# at a fixed rate. Samples the process's RSS every 10 s and prints RSS at start and end, the
# peak (VmHWM, all threads), and the drop counters. Target: flat, peak ≤ 150 MiB.
#
#   sudo bash bench/pool_memory.sh [MINUTES] [PACKETS_PER_SECOND] [WORKERS] [CAPTURE]
#
# Defaults: 10 minutes at 100 000 packets/s, workers 0 (the default, 1 worker); WORKERS "inline"
# runs without the pool, for comparison. The capture is
# filtered to frames of at most 1514 bytes as in bench/pool_live.sh. Needs root, iproute2,
# tcpreplay, tshark, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/big_capture.sh
source bench/veth.sh
minutes=${1:-10}
pps=${2:-100000}
workers=${3:-0}
capture=${4:-bench/out/big.pcap}
[ "$(id -u)" = 0 ] || { echo "pool_memory: needs root (network namespaces)" >&2; exit 1; }
big_capture pool_memory "$capture"
replayable_capture "$capture"

log=$(mktemp)
cleanup() {
  [ -n "${replayer:-}" ] && kill "$replayer" 2>/dev/null
  [ -n "${btb:-}" ] && kill -INT "$btb" 2>/dev/null && wait "$btb" 2>/dev/null
  veth_down
  rm -f "$log"
}
trap cleanup EXIT
veth_up pm

pool=(--worker-pool --workers "$workers")
[ "$workers" != inline ] || pool=()
ip netns exec "$ns" deno run ${DENO_FLAGS:---v8-flags=--max-semi-space-size=1} --allow-ffi --allow-read --allow-write --allow-env --allow-sys \
  main.ts --interfaces "$ns_if" --monitor-only --log-format json --stats-interval 1m \
  "${pool[@]}" 2>"$log" &
btb=$!
for _ in $(seq 300); do grep -q "capturing on" "$log" && break; sleep 0.05; done
rss() { awk '/^VmRSS/ {print $2}' "/proc/$btb/status"; }
echo "btblocker pid $btb, workers $workers, replaying at $pps packets/s for $minutes min"
echo "RSS before traffic: $(($(rss) / 1024)) MiB"

tcpreplay -i "$host_if" --pps="$pps" --loop=0 "$replay" >/dev/null 2>&1 &
replayer=$!
duration=$(awk -v m="$minutes" 'BEGIN {printf "%d", m * 60}')
end=$((SECONDS + duration))
first=
samples=()
while [ $SECONDS -lt $end ]; do
  sleep 10
  r=$(rss)
  samples+=("$r")
  [ -n "$first" ] || first=$r
  printf '  %4d s  RSS %6.1f MiB\n' "$((SECONDS - end + duration))" "$(awk -v k="$r" 'BEGIN {print k / 1024}')"
done
kill "$replayer"
wait "$replayer" 2>/dev/null || true
replayer=
last=${samples[-1]}
peak=$(awk '/^VmHWM/ {print $2}' "/proc/$btb/status")
sleep 1
kill -INT "$btb"
wait "$btb" || true
btb=
python3 - "$log" "$first" "$last" "$peak" <<'EOF'
import json, sys
final = None
pool = []
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    m = str(r.get("message", ""))
    if m.startswith("final:"):
        final = r["properties"]["interfaces"][0]
    if m.startswith("Worker Pool:") and "active" in m:
        pool.append(r["properties"])
first, last, peak = (int(v) / 1024 for v in sys.argv[2:5])
print(f"RSS at start (first sample, 10 s) {first:.1f} MiB, at end {last:.1f} MiB "
      f"({last - first:+.1f} MiB), peak {peak:.1f} MiB (target <= 150)")
if final:
    print(f"packets {final['packets']}, pcap drops {final['pcapDrops']}, "
          f"pool drops {final.get('poolDrops', 0)}")
if pool:
    print(f"pool status lines: {len(pool)}, peak queue fill "
          f"{max(p['peakPercent'] for p in pool)} %")
EOF
