#!/usr/bin/env bash
# Live capture throughput: replays the large capture with tcpreplay into a veth pair whose other
# end is captured in a network namespace, by tcpdump (the capture floor), btblocker inline, and
# btblocker with the worker pool (1, 2 and 4 workers by default). For each, the highest replay
# rate with zero drops: no packet dropped by the kernel (pcap_stats) and, with the pool, none
# dropped by the pool's ring; and the speed-up of each pool over inline at that rate.
#
#   sudo bash bench/pool_live.sh [CAPTURE] ["RATE RATE … topspeed"] ["WORKER COUNTS"]
#
# Without CAPTURE it builds bench/out/big.pcap (../shared/tools/make_big_pcap.sh). Frames over
# 1514 bytes (offloaded jumbo frames in the corpus) are filtered out first with tshark, since a
# veth refuses them. btblocker runs with --monitor-only (no enforcement: this measures capture
# and inspection) and its default snap length (512) and kernel buffer (32 MiB); tcpdump gets the
# same snap length, buffer and capture filter. Rates go up until the first step with drops.
# Needs root, iproute2, tcpdump, tcpreplay, python3, and tshark (wireshark-common) unless the
# filtered capture exists.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/big_capture.sh
source bench/veth.sh
capture=${1:-bench/out/big.pcap}
rates=${2:-"50000 100000 150000 200000 250000 topspeed"}
pools=()
for n in ${3:-1 2 4}; do pools+=("pool$n"); done
modes=(tcpdump inline "${pools[@]}")
[ "$(id -u)" = 0 ] || { echo "pool_live: needs root (network namespaces)" >&2; exit 1; }
for tool in tcpreplay tcpdump ip python3; do
  command -v "$tool" >/dev/null || { echo "pool_live: $tool missing" >&2; exit 1; }
done
big_capture pool_live "$capture"
replayable_capture "$capture"

out=$(mktemp -d)
cleanup() {
  [ -n "${capturer:-}" ] && kill -INT "$capturer" 2>/dev/null && wait "$capturer" 2>/dev/null
  veth_down
  rm -rf "$out"
}
trap cleanup EXIT
veth_up pl

filter="tcp or udp or ip6 or (vlan and (tcp or udp or ip6))"
wait_for() { # file pattern
  for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "pool_live: capturer did not start: $(cat "$1")" >&2
  exit 1
}

# One replay at a rate; prints "achieved_pps drops captured".
measure() { # mode rate
  local mode=$1 rate=$2 log=$out/log
  : >"$log"
  if [ "$mode" = tcpdump ]; then
    ip netns exec "$ns" tcpdump -i "$ns_if" -s 512 -B 32768 -w /dev/null "$filter" 2>"$log" &
    capturer=$!
    wait_for "$log" "listening on"
  else
    local extra=()
    [ "$mode" = inline ] || extra=(--worker-pool --workers "${mode#pool}")
    ip netns exec "$ns" deno run --allow-ffi --allow-read --allow-write --allow-env --allow-sys \
      main.ts --interfaces "$ns_if" --monitor-only --log-format json --stats-interval 1h \
      "${extra[@]}" 2>"$log" &
    capturer=$!
    wait_for "$log" "capturing on"
  fi
  local speed=(--topspeed)
  [ "$rate" = topspeed ] || speed=(--pps="$rate")
  local achieved
  achieved=$(tcpreplay -i "$host_if" "${speed[@]}" "$replay" 2>&1 |
    sed -nE 's/.*Rated: .* ([0-9.]+) pps.*/\1/p')
  sleep 2 # let the capturer catch up before stopping it
  kill -INT "$capturer"
  wait "$capturer" || true
  capturer=
  if [ "$mode" = tcpdump ]; then
    local captured dropped
    captured=$(sed -nE 's/^([0-9]+) packets captured.*/\1/p' "$log")
    dropped=$(sed -nE 's/^([0-9]+) packets dropped by kernel.*/\1/p' "$log")
    echo "${achieved%.*} $dropped $captured"
  else
    python3 - "$log" "${achieved%.*}" <<'EOF'
import json, sys
final = None
for line in open(sys.argv[1]):
    try:
        record = json.loads(line)
    except ValueError:
        continue
    if str(record.get("message", "")).startswith("final:"):
        final = record["properties"]["interfaces"][0]
if final is None:
    sys.exit("no final stats line")
drops = final["pcapDrops"] + final.get("poolDrops", 0)
print(sys.argv[2], drops, final["packets"])
EOF
  fi
}

packets=$( (capinfos -c -M "$replay" 2>/dev/null || echo "packets: ?") |
  sed -nE 's/.*packets:\s*([0-9?]+).*/\1/p')
printf 'replaying %s (%s packets) into a veth; zero-drop steps per capturer\n' "$replay" "$packets"
printf '%-9s %12s %14s %10s %12s\n' capturer "step" "achieved pk/s" drops captured
declare -A best
for mode in "${modes[@]}"; do
  best[$mode]=0
  for rate in $rates; do
    measure "$mode" "$rate" >"$out/result"
    read -r achieved drops captured <"$out/result"
    printf '%-9s %12s %14s %10s %12s\n' "$mode" "$rate" "$achieved" "$drops" "$captured"
    if [ "$drops" != 0 ]; then break; fi
    [ "$achieved" -le "${best[$mode]}" ] || best[$mode]=$achieved
  done
done
echo
printf '%-9s %s\n' capturer "highest zero-drop rate (achieved packets/s), speed-up over inline"
for mode in "${modes[@]}"; do
  printf '%-9s %10s %7s\n' "$mode" "${best[$mode]}" \
    "$(awk -v a="${best[$mode]}" -v b="${best[inline]}" 'BEGIN {if (b > 0) printf "%.2fx", a / b}')"
done
pool_best=$(for p in "${pools[@]}"; do echo "${best[$p]}"; done | sort -n | tail -1)
awk -v p="$pool_best" -v t="${best[tcpdump]}" \
  'BEGIN {if (t > 0) printf "best pool / tcpdump: %.0f %% (target >= 80 %%)\n", 100 * p / t}'
