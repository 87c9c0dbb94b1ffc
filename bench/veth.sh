# A veth pair into a network namespace, for the live-capture benchmarks: the capturer runs in
# the namespace on one end, tcpreplay replays into the other. Sourced (`source bench/veth.sh`)
# by a script running as root with `set -euo pipefail`.

# veth_up TAG: creates namespace btbTAG<pid> and the veth pair bTAG<pid>a (here) and bTAG<pid>b
# (in the namespace), all up; sets `ns`, `host_if` (replay into it) and `ns_if` (capture on it).
veth_up() {
  ns=btb$1$$
  host_if=b$1$$a
  ns_if=b$1$$b
  ip netns add "$ns"
  ip link add "$host_if" type veth peer name "$ns_if"
  ip link set "$ns_if" netns "$ns"
  ip link set "$host_if" up
  ip netns exec "$ns" ip link set "$ns_if" up
  ip netns exec "$ns" ip link set lo up
  sleep 1
}

# veth_down: removes what veth_up created, if anything (for the EXIT trap; never fails).
veth_down() {
  [ -n "${ns:-}" ] || return 0
  ip link del "$host_if" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
}
