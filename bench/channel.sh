#!/usr/bin/env bash
# The worker pool's channel alone (workers/channel_bench.ts): packets/s and MB/s through the
# ring of slabs to 1 and 2 workers next to one postMessage per packet, in the same run.
#
#   bash bench/channel.sh
#
# Each `deno bench` iteration moves 20 000 frames (8.5 MB) and waits for every buffer to come
# back; rates are computed from the mean and from the best time per iteration.
set -euo pipefail
cd "$(dirname "$0")/.."
deno bench --allow-read --json workers/channel_bench.ts 2>/dev/null | python3 -c '
import json, re, sys
d = json.load(sys.stdin)
print("%s, %s" % (d["cpu"], d["runtime"]))
print("%-40s %18s %12s %18s" % ("channel", "packets/s (mean)", "MB/s (mean)", "packets/s (best)"))
for b in d["benches"]:
    r = b["results"][0]["ok"]
    m = re.search(r"\((\d+) packets, ([\d.]+) MB\)", b["name"])
    packets, mb = int(m.group(1)), float(m.group(2))
    mean, best = r["avg"] / 1e9, r["min"] / 1e9
    print("%-40s %18s %12.1f %18s" % (b["name"][: m.start()].strip(), format(round(packets / mean), ","),
          mb / mean, format(round(packets / best), ",")))
'
