#!/usr/bin/env bash
# bench/pool_scaling.sh for a machine with many cores and no network: packs this checkout
# (committed files), the deno binary, its module cache and the large capture (and its
# replayable copy) into one tarball; unpacked on the device, one command runs the scaling
# benchmark, then bench/pool_cpu.ts (each thread's CPU during a read: shows whether the main
# thread or the busiest worker sets the pace where the scaling flattens), and writes both
# tables to results.txt.
#
#   bash bench/device_scaling.sh [OUT.tar.gz] [CAPTURE]        here: builds the tarball
#   tar xzf btblocker-scaling.tar.gz && cd btblocker-scaling
#   sudo ./run.sh ["WORKER COUNTS"] [RUNS]                      there: e.g. "1 2 4 8 12 15"
#
# The device needs Linux, root, libpcap, and for the live half iproute2, tcpdump, tcpreplay,
# python3 and time (the offline half runs without them; the live half is skipped, saying
# what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/big_capture.sh
out=$(realpath -m "${1:-btblocker-scaling.tar.gz}")
capture=${2:-bench/out/big.pcap}
big_capture device_scaling "$capture"
command -v tshark >/dev/null || { echo "device_scaling: tshark missing (wireshark-common)" >&2; exit 1; }
replayable_capture "$capture"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dir=$stage/btblocker-scaling
mkdir -p "$dir/bin" "$dir/bench/out"
git archive HEAD | tar -x -C "$dir"
cp "$(readlink -f "$(command -v deno)")" "$dir/bin/deno"
# The replayable copy must stay newer than the capture, or pool_live.sh filters it again.
cp -p "$capture" "$dir/bench/out/big.pcap"
cp -p "$replay" "$dir/bench/out/big-1514.pcap"
touch "$dir/bench/out/big-1514.pcap"
(cd "$dir" && DENO_DIR="$dir/deno_dir" bin/deno cache main.ts workers/inspector_worker.ts \
  bench/pool_cpu.ts)
cat >"$dir/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs bench/pool_scaling.sh with the deno and module cache packed beside it, no network.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PWD/bin:$PATH" DENO_DIR="$PWD/deno_dir" DENO_NO_UPDATE_CHECK=1
counts=${1:-}
runs=${2:-3}
missing=""
for tool in ip tcpdump tcpreplay python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || missing="$missing $tool"
done
{
  uname -a
  deno --version | head -n1
  if [ -n "$missing" ]; then
    echo "live half skipped: missing$missing"
    echo "== offline: --read bench/out/big.pcap =="
    bash bench/pool_read.sh bench/out/big.pcap "$runs" "${counts:-1 2 4 8}"
  else
    bash bench/pool_scaling.sh bench/out/big.pcap "$counts" "$runs"
  fi
  echo "== CPU per thread during --read bench/out/big.pcap =="
  # shellcheck disable=SC2086 # the worker counts are words
  deno run --allow-all bench/pool_cpu.ts bench/out/big.pcap "$runs" ${counts:-1 2 4 8}
} 2>&1 | tee results.txt
RUN
chmod +x "$dir/run.sh"
tar -czf "$out" -C "$stage" btblocker-scaling
echo "$out: $(du -h "$out" | cut -f1); on the device: tar xzf $(basename "$out") && cd btblocker-scaling && sudo ./run.sh"
