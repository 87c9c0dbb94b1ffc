# The large benchmark capture, for the benchmark scripts. Sourced (`source bench/big_capture.sh`)
# from the repository root by a script running with `set -euo pipefail`.

# big_capture NAME CAPTURE: builds CAPTURE from ../shared/corpus/pcap with
# ../shared/tools/make_big_pcap.sh (needs wireshark-common) when it does not exist; when the
# corpus or the tool is absent too, says that benchmark NAME is skipped and exits 0.
big_capture() {
  local name=$1 capture=$2
  local corpus=../shared/corpus/pcap maker=../shared/tools/make_big_pcap.sh
  if [ -f "$capture" ]; then return 0; fi
  if [ ! -d "$corpus" ] || [ ! -x "$maker" ]; then
    echo "$name: SKIPPED — no capture given and $corpus or $maker not found" >&2
    exit 0
  fi
  mkdir -p "$(dirname "$capture")"
  echo "building $capture from $corpus ..." >&2
  bash "$maker" "$corpus" "$capture" >/dev/null
}

# replayable_capture CAPTURE: sets `replay` to bench/out/NAME-1514.pcap, CAPTURE without its
# frames over 1514 bytes (offloaded jumbo frames in the corpus, which a veth refuses), filtered
# with tshark when missing or older than CAPTURE.
replayable_capture() {
  local capture=$1
  replay=bench/out/$(basename "${capture%.*}")-1514.pcap
  if [ ! -f "$replay" ] || [ "$replay" -ot "$capture" ]; then
    command -v tshark >/dev/null || { echo "tshark missing (apt install tshark)" >&2; exit 1; }
    mkdir -p bench/out
    echo "filtering $capture to frames of at most 1514 bytes ..." >&2
    tshark -r "$capture" -Y 'frame.len <= 1514' -w "$replay" -F pcap 2>/dev/null
  fi
}
