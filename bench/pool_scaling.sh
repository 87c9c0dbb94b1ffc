#!/usr/bin/env bash
# How the worker pool scales with cores: packets/s and speed-up over inline for each worker
# count, offline (`--read` of the large capture, bench/pool_read.sh) and live (tcpreplay into a
# veth at rising rates, highest zero-drop rate, bench/pool_live.sh).
#
#   sudo bash bench/pool_scaling.sh [CAPTURE] ["WORKER COUNTS"] [RUNS] ["RATES"]
#
# WORKER COUNTS defaults to 1 2 4 8 up to the number of cores (name larger counts to go
# beyond). RUNS (default 3) offline runs per setting, medians. RATES (default 100 k to 2 M
# packets/s, then topspeed) are the live replay steps. Targets (issue 12): ≥ 1.8x inline with
# 2 workers where 4+ cores exist, near-linear to 8; on 2 cores at least no slower than inline.
# Needs root, iproute2, tcpdump, tcpreplay, tshark (wireshark-common), python3, time.
# bench/device_scaling.sh packs this with deno and the capture for a machine with no network.
set -euo pipefail
cd "$(dirname "$0")/.."
capture=${1:-bench/out/big.pcap}
cores=$(nproc)
default_counts=$(for n in 1 2 4 8; do if [ "$n" -le "$cores" ]; then echo "$n"; fi; done | xargs)
counts=${2:-$default_counts}
runs=${3:-3}
rates=${4:-"100000 200000 300000 500000 750000 1000000 1500000 2000000 topspeed"}
echo "pool scaling on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg), worker counts: $counts"
echo
echo "== offline: --read $capture =="
bash bench/pool_read.sh "$capture" "$runs" "$counts"
echo
echo "== live: tcpreplay into a veth, highest zero-drop rate =="
bash bench/pool_live.sh "$capture" "$rates" "$counts"
