#!/usr/bin/env bash
# Detections of the worker pool against the inline path on the large capture: `btblocker
# --read` inline and with 1, 2, 4 and 8 workers (the workers share one endpoint memory), the
# events compared flow by flow by bench/pool_detections.ts, which accepts only order-dependent
# differences (see there) and fails on any other.
#
#   bash bench/pool_detections.sh [CAPTURE] [WORKER COUNTS...]
#
# Without CAPTURE it builds bench/out/big.pcap from ../shared/corpus/pcap with
# ../shared/tools/make_big_pcap.sh (needs wireshark-common).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/big_capture.sh
capture=${1:-bench/out/big.pcap}
shift || true
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1 2 4 8)
big_capture pool_detections "$capture"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
read_capture() { # OUTPUT [EXTRA ARGS...]
  local events=$1
  shift
  deno run --allow-ffi --allow-read --allow-env main.ts --read "$capture" --format jsonl \
    --no-progress "$@" >"$events"
}
read_capture "$out/inline.jsonl"
files=()
for n in "${counts[@]}"; do
  read_capture "$out/pool-$n.jsonl" --worker-pool --workers "$n"
  files+=("$out/pool-$n.jsonl")
done
echo "$capture"
deno run --allow-read bench/pool_detections.ts "$out/inline.jsonl" "${files[@]}" |
  sed "s|$out/pool-\([0-9]*\).jsonl|pool \1|"
