#!/usr/bin/env bash
# Soak: a steady replay of mixed traffic (the large capture) through the namespace topology for
# MINUTES, at a rate the worker pool sustains without drops. btblocker runs live with the worker
# pool on the namespace end of a veth pair; tcpreplay loops the capture into the other end.
# Checks, each failing the run (exit 1):
#   - no drops: no packet dropped by the kernel (pcap and interface counters) or by the pool's
#     ring, none refused by tcpreplay's sends but the frames cut shorter than an Ethernet
#     header (which no interface sends), and btblocker captured exactly what was replayed:
#     loops × the packets of the capture that pass the live capture filter (the veth's own
#     IPv6 chatter is turned off so that nothing else is captured);
#   - memory flat: RSS saw-tooths with garbage collection (by some 25 MiB on the development
#     machine), so the check compares the highest RSS sample of the first third after a
#     warm-up (60 s; a third of shorter runs) with the highest of the last third: the later
#     high must be within RSS_TOLERANCE % (10) of the earlier. RSS at start and end, and the
#     peak (VmHWM), are printed too;
#   - detections equal to the offline result on the same traffic: the set of flows (protocol
#     and the unordered pair of endpoints) and reasons in the live detection log equals the set
#     `--read` finds in the same file, with the same pool settings (bench/soak_compare.ts);
#   - complete records: no detection report held back by the report rate limit (the soak
#     raises --report-rate so that none is), no worker replaced after a crash.
#
#   sudo bash bench/soak.sh [MINUTES] [PACKETS_PER_SECOND] [WORKERS] [CAPTURE]
#
# Defaults: 10 minutes at 50 000 packets/s, workers 0 (the product default, 1 worker),
# CAPTURE bench/out/big.pcap (built from ../shared/corpus when missing). The replay is a whole
# number of loops of the capture, the number that comes closest to MINUTES at the rate, so that
# live and offline see the same packets. Samples VmRSS (and VmHWM, the peak) of the btblocker
# process, all threads, every 10 s. Short runs are for trying the script out: the heap takes
# about two minutes to reach its working size, so only runs of several minutes say whether
# memory is flat.
#
# Why this comparison is fair:
#   - btblocker runs with --monitor-only: bans would make XDP drop the replayed peers' later
#     packets and change what the engine sees, so live and offline would no longer see the
#     same traffic (enforcement is covered by tests/live_test.ts and bench/ban_latency.ts);
#   - both sides read the capture without its frames over 1514 bytes (offloaded jumbo frames
#     in the corpus that a veth refuses: bench/big_capture.sh replayable_capture);
#   - both sides run the same worker pool (--worker-pool --workers N): each worker has its own
#     endpoint memory, so with several workers a flow recognised from a remembered endpoint
#     (known_peer, dht_peer, …) depends on which flows share its worker;
#   - live, packets carry the replay's timestamps (1/RATE apart, looped) and are cut to the
#     snap length (512), where the file spans 5.5 days and keeps whole frames. Neither changes
#     the set: the file re-timed to 50 000 packets/s, cut to 512 bytes and looped three times
#     reads to the same set inline and with 1 and 4 workers. Counts do change (flows the file
#     lets expire are decided again there), which is why sets are compared, not counts.
#
# Needs root, iproute2, tcpreplay, tcpdump, tshark and capinfos (wireshark-common), curl,
# python3. Keeps its working directory (logs, detection logs, RSS samples) when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/big_capture.sh
source bench/veth.sh
minutes=${1:-10}
pps=${2:-50000}
workers=${3:-0}
capture=${4:-bench/out/big.pcap}
tolerance=${RSS_TOLERANCE:-10}
metrics_port=9425
[ "$(id -u)" = 0 ] || { echo "soak: needs root (network namespaces)" >&2; exit 1; }
for tool in tcpreplay tcpdump tshark capinfos ip curl python3 deno; do
  command -v "$tool" >/dev/null || { echo "soak: $tool missing" >&2; exit 1; }
done
big_capture soak "$capture"
replayable_capture "$capture"

work=$(mktemp -d /tmp/btblocker-soak.XXXXXX)
keep=
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  if [ -n "${replayer:-}" ]; then kill "$replayer" 2>/dev/null || true; fi
  if [ -n "${btb:-}" ]; then
    kill -INT "$btb" 2>/dev/null || true
    wait "$btb" 2>/dev/null || true
  fi
  veth_down
  if [ -z "$keep" ]; then rm -rf "$work"; else echo "soak: logs kept in $work" >&2; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM
# shellcheck disable=SC2206 # DENO_FLAGS is a list of flags
deno_run=(deno run ${DENO_FLAGS:---v8-flags=--max-semi-space-size=1}
  --allow-ffi --allow-read --allow-write --allow-env --allow-sys --allow-net)
pool=(--worker-pool --workers "$workers")
count() { capinfos -c -M "$1" | sed -nE 's/.*packets:\s*([0-9]+).*/\1/p'; }

# The traffic: how many packets a loop replays, and how many of them live capture keeps.
packets=$(count "$replay")
filter=$(sed -nE 's/^export const CAPTURE_FILTER = "(.*)";$/\1/p' live/capture.ts)
[ -n "$filter" ] || { echo "soak: CAPTURE_FILTER not found in live/capture.ts" >&2; exit 1; }
tcpdump -r "$replay" -w "$work/filtered.pcap" "$filter" 2>/dev/null
per_loop=$(count "$work/filtered.pcap")
rm -f "$work/filtered.pcap"
# Frames cut shorter than an Ethernet header in the corpus: the kernel refuses to send them.
unsendable=$(tshark -r "$replay" -Y 'frame.cap_len < 14' 2>/dev/null | wc -l)
loops=$(awk -v m="$minutes" -v r="$pps" -v n="$packets" \
  'BEGIN {l = int(m * 60 * r / n + 0.5); print l < 1 ? 1 : l}')
seconds=$(awk -v l="$loops" -v r="$pps" -v n="$packets" 'BEGIN {printf "%d", l * n / r}')
warmup=$(awk -v s="$seconds" 'BEGIN {w = s >= 180 ? 60 : int(s / 30) * 10; print w < 10 ? 10 : w}')

# 1. The offline reference.
echo "offline: --read $replay (${pool[*]}) ..."
"${deno_run[@]}" main.ts --read "$replay" --format jsonl --no-progress "${pool[@]}" \
  >"$work/offline.jsonl"

# 2. Live, with the pool, on the namespace end of a veth.
veth_up sk
# No IPv6 chatter of the veth's own (router solicitations, MLD reports): live must see the
# replay and nothing else.
sysctl -qw "net.ipv6.conf.$host_if.disable_ipv6=1"
ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ns_if.disable_ipv6=1"
ip netns exec "$ns" "${deno_run[@]}" main.ts --interfaces "$ns_if" --monitor-only "${pool[@]}" \
  --log-format json --stats-interval 1m --detection-log "$work/live.jsonl" \
  --report-rate 1000000 --metrics-listen "127.0.0.1:$metrics_port" --pid-file none \
  >"$work/stdout" 2>"$work/log" &
btb=$!
for _ in $(seq 300); do
  grep -q "capturing on" "$work/log" && break
  kill -0 "$btb" 2>/dev/null || break
  sleep 0.05
done
if ! grep -q "capturing on" "$work/log"; then
  keep=1
  echo "soak: btblocker did not start:" >&2
  cat "$work/log" >&2
  exit 1
fi
status() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$btb/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
idle=$(status VmRSS)
echo "live: btblocker pid $btb on $ns_if (namespace $ns), ${pool[*]}, RSS before traffic" \
  "$(mib "$idle") MiB"
echo "replaying $replay ($packets packets, $per_loop kept by the capture filter) at $pps" \
  "packets/s, $loops loops (~$seconds s); RSS every 10 s, start after a $warmup s warm-up"

# 3. The replay, sampling memory every 10 s.
tcpreplay -i "$host_if" --pps="$pps" --loop="$loops" --no-flow-stats "$replay" \
  >"$work/tcpreplay" 2>&1 &
replayer=$!
started=$SECONDS
: >"$work/rss"
while kill -0 "$replayer" 2>/dev/null; do
  sleep 10
  if ! kill -0 "$btb" 2>/dev/null; then
    keep=1
    echo "soak: btblocker exited during the replay" >&2
    tail -5 "$work/log" >&2
    exit 1
  fi
  t=$((SECONDS - started))
  rss=$(status VmRSS)
  hwm=$(status VmHWM)
  echo "$t $rss $hwm" >>"$work/rss"
  printf '  %4d s  RSS %6s MiB  peak %6s MiB\n' "$t" "$(mib "$rss")" "$(mib "$hwm")"
done
replay_rc=0
wait "$replayer" || replay_rc=$?
replayer=
sleep 2 # let capture and workers catch up with the last packets
ip netns exec "$ns" curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics" ||
  echo "soak: cannot read the metrics" >&2
kill -INT "$btb"
btb_rc=0
wait "$btb" || btb_rc=$?
btb=

# 4. The verdict.
set +e
deno run --allow-read bench/soak_compare.ts "$work/offline.jsonl" "$work/live.jsonl" \
  >"$work/compare"
compare_rc=$?
python3 - "$work" "$tolerance" "$warmup" "$loops" "$per_loop" "$unsendable" "$pps" \
  "$replay_rc" "$btb_rc" "$compare_rc" "$idle" <<'EOF'
import json, re, sys
(work, tolerance, warmup, loops, per_loop, unsendable, pps, replay_rc, btb_rc, compare_rc,
 idle) = sys.argv[1:]
tolerance, warmup, loops = float(tolerance), int(warmup), int(loops)
per_loop, unsendable = int(per_loop), int(unsendable)
failed = []

def check(ok, what):
    if not ok:
        failed.append(what)
    return "ok" if ok else "FAIL"

def mib(kib):
    return f"{kib / 1024:.1f}"

# Memory: RSS saw-tooths with the garbage collector (tens of MiB), so single samples compare
# badly; the check compares the highest sample of the first third after the warm-up with the
# highest of the last third: a leak raises every high, a collection cycle does not.
samples = [tuple(int(v) for v in line.split()) for line in open(f"{work}/rss")]
after = [s for s in samples if s[0] >= warmup] or samples[-1:]
third = max(1, len(after) // 3)
start, end = after[0], samples[-1]
high_first = max(s[1] for s in after[:third])
high_last = max(s[1] for s in after[-third:])
peak = max(s[2] for s in samples)
growth = 100 * (high_last - high_first) / high_first

# Replay and capture counters.
replay_text = open(f"{work}/tcpreplay").read()
def replay_stat(pattern):
    m = re.search(pattern, replay_text)
    return m.group(1) if m else "?"
sent = replay_stat(r"Actual: (\d+) packets")
failed_sends = replay_stat(r"Failed packets:\s+(\d+)")
rated = replay_stat(r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps")
replay_seconds = replay_stat(r"sent in ([\d.]+) seconds")
final, queue_full, peak_fill = None, 0, 0
for line in open(f"{work}/log"):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    m = str(r.get("message", ""))
    if m.startswith("final:"):
        final = r["properties"]["interfaces"][0]
    if "queue full" in m:
        queue_full += 1
    if m.startswith("Worker Pool:") and "active" in m:
        peak_fill = max(peak_fill, r["properties"].get("peakPercent", 0))
metrics = {}
try:
    exposition = open(f"{work}/metrics").read().split("\n")
except OSError:
    exposition = []
for line in exposition:
    if line.startswith("#") or not line.strip():
        continue
    name, value = line.rsplit(" ", 1)
    metrics[name] = float(value)
def metric(prefix):
    vals = [v for k, v in metrics.items() if k == prefix or k.startswith(prefix + "{")]
    return int(sum(vals)) if vals else None
malformed = metric("btblocker_malformed_packets_total")
suppressed = metric("btblocker_reports_suppressed_total")
restarts = metric("btblocker_pool_worker_restarts_total")
expected = loops * per_loop
compare = open(f"{work}/compare").read().rstrip("\n").split("\n")

print()
print("=" * 92)
print(f"SOAK  {loops} loops of the capture at {pps} packets/s: tcpreplay sent {sent} packets in "
      f"{replay_seconds} s ({rated}/s)")
print(f"memory     RSS {mib(int(idle))} MiB before traffic, {mib(start[1])} at start "
      f"({start[0]} s), {mib(end[1])} at end ({end[0]} s), peak (VmHWM) {mib(peak)} MiB")
print(f"           highs of first/last third {mib(high_first)}/{mib(high_last)} MiB: "
      f"growth {growth:+.1f} % (limit {tolerance:g} %)  "
      + check(growth <= tolerance, f"RSS grew {growth:.1f} %"))
if final is None:
    print("capture    no final stats line  " + check(False, "no final stats line"))
else:
    drops = final["pcapDrops"] + final["interfaceDrops"] + final.get("poolDrops", 0)
    print(f"drops      pcap {final['pcapDrops']}, interface {final['interfaceDrops']}, pool "
          f"{final.get('poolDrops', 0)}  " + check(drops == 0, f"{drops} packets dropped"))
    print(f"packets    captured {final['packets']}, replayed {expected} ({loops} x {per_loop} "
          f"through the capture filter), malformed {malformed}  "
          + check(final["packets"] == expected,
                  f"captured {final['packets']} packets of {expected}"))
print(f"replay     failed sends {failed_sends} ({loops} x {unsendable} frames shorter than an "
      f"Ethernet header expected), exit {replay_rc}  "
      + check(failed_sends == str(loops * unsendable) and replay_rc == "0",
              f"tcpreplay: {failed_sends} failed sends, exit {replay_rc}"))
print(f"pool       peak queue fill {peak_fill} %, queue-full warnings {queue_full}, worker "
      f"restarts {restarts}  " + check(restarts == 0, f"{restarts} worker restarts"))
print(f"reports    held back by the rate limit {suppressed}, btblocker exit {btb_rc}  "
      + check(suppressed == 0 and btb_rc == "0",
              f"{suppressed} reports held back, exit {btb_rc}"))
print(f"detections {compare[0]}  " + check(compare_rc == "0", "detection sets differ"))
for line in compare[1:12]:
    print("           " + line)
if len(compare) > 12:
    print(f"           … {len(compare) - 12} more lines in {work}/compare")
print("=" * 92)
if failed:
    print("SOAK FAILED: " + "; ".join(failed))
    sys.exit(1)
print("SOAK PASSED: no drops, memory flat, live detections = offline detections")
EOF
verdict=$?
set -e
[ "$verdict" = 0 ] || keep=1
exit "$verdict"
