# btblocker — build, test and demo. Run as root on Debian/Ubuntu: missing parts are installed.
#
#   make demo    set everything up and run btblocker on the built-in default
#   make test    set everything up and run every check and test (what CI runs)
#   make bench   throughput benchmarks
#   make build   compile the single binary ./btblocker (needs deno's runtime archive)
#   make bpf     recompile bpf/xdp_ban.c into ffi/xdp_object.ts (committed; needs clang)

DENO_VERSION := 2.9.6
DEB_RUNTIME  := libpcap0.8 libbpf1 nftables
DEB_TEST     := tcpdump python3 python3-scapy iproute2 iputils-ping util-linux
DEB_BENCH    := wireshark-common libndpi-bin
DEB_BPF      := clang llvm libbpf-dev
DEMO_CAPTURE := tests/fixtures/mse_loopback.pcap

# Deno permissions: no -A anywhere (see tests/permissions_test.ts).
PERM_READ := --allow-ffi --allow-read --allow-env
PERM_TEST := --allow-ffi --allow-read --allow-write --allow-run --allow-env --allow-sys

.PHONY: all deps deno debs debs-test test check demo bench bench-read build clean bpf

all: test

deps: deno debs

# Deno from npm, pinned; replaced when another version is installed.
deno:
	@if [ "$$(deno --version 2>/dev/null | head -n1 | cut -d' ' -f2)" != "$(DENO_VERSION)" ]; then \
		echo "Installing deno $(DENO_VERSION) from npm"; \
		command -v npm >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm); \
		npm install -g --silent deno@$(DENO_VERSION); \
	fi

# Debian packages, installed only when missing.
install_missing = missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "Installing Debian packages:$$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

debs:
	@$(call install_missing,$(DEB_RUNTIME))

debs-test:
	@$(call install_missing,$(DEB_RUNTIME) $(DEB_TEST) $(DEB_BPF))

check: deno
	deno fmt --check
	deno lint
	deno check

test: deno debs-test check
	deno test --doc $(PERM_TEST)

demo: deps
	deno run $(PERM_READ) main.ts --read $(DEMO_CAPTURE)

bench: deps
	deno bench $(PERM_READ)

bench-read: deps
	@$(call install_missing,$(DEB_BENCH))
	bash bench/read_vs_ndpi.sh

# The XDP program: compiled reproducibly and embedded as bytes in ffi/xdp_object.ts, which is
# committed so that `deno run` and `deno compile` need no clang (ffi/xdp_object_test.ts checks
# it against a fresh build when the same clang is installed).
bpf:
	@$(call install_missing,$(DEB_BPF))
	bash bpf/build.sh

build: deno
	deno compile $(PERM_READ) --output btblocker main.ts

clean:
	rm -f btblocker
