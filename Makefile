# btblocker — build, test and demo. Run as root on Debian/Ubuntu: missing parts are installed.
#
#   make demo    set up a lab and show btblocker blocking a real BitTorrent client
#   make test    set everything up and run every check and test (what CI runs): the suite in a
#                pristine copy of the checkout, then the tests that read ../shared with it
#   make bench   throughput benchmarks
#   make build   compile the single binary ./btblocker (needs deno's runtime archive)
#   make bpf     recompile bpf/xdp_ban.c into ffi/xdp_object.ts (committed; needs clang)
#   make vendor  refresh the committed npm packages in node_modules/ (needs the npm registry)

DENO_VERSION := 2.9.6
# Behind a TLS-inspecting proxy the system store holds the proxy's certificate: Deno (and the
# processes our tests and lab spawn, which pass it on) trust it as well as Mozilla's roots, and
# npm, installing Deno, trusts the system bundle too.
export DENO_TLS_CA_STORE ?= mozilla,system
ifneq ($(wildcard /etc/ssl/certs/ca-certificates.crt),)
export NODE_EXTRA_CA_CERTS ?= /etc/ssl/certs/ca-certificates.crt
endif
DEB_RUNTIME  := libpcap0.8 libbpf1 nftables
# The lab (tests/lab/): real BitTorrent clients, a tracker, everyday servers and clients.
DEB_LAB      := transmission-cli aria2 qbittorrent-nox python3-libtorrent opentracker \
                dnsmasq-base dropbear-bin openssh-client iperf3 curl openssl bpftool procps \
                shadowsocks-libev tor obfs4proxy openvpn wireguard-go wireguard-tools nebula yggdrasil
DEB_TEST     := tcpdump python3 python3-scapy iproute2 iputils-ping util-linux $(DEB_LAB)
DEB_BENCH    := wireshark-common libndpi-bin
DEB_BPF      := clang llvm libbpf-dev

# Deno permissions: no -A anywhere (tests/permissions_test.ts checks these lists, the deno.json
# tasks and the live tests agree). PERM_BIN is what the compiled binary gets:
#   ffi    libpcap, libbpf, libc (unscoped: Deno's pointer APIs refuse a path-scoped --allow-ffi)
#   read   capture files given to --read (any path), the checkout's .git for --version
#   write  the detection log and the pid file, under /var/log, /run or /tmp
#   env    the configuration variables and nothing else
#   sys    the host's own addresses (never banned)
#   run    nft, for the nftables enforcer
#   net    the metrics listener, on loopback or all addresses only
ENV_VARS  := INTERFACE,ENFORCER,XDP_MODE,BAN_DURATION,XDP_CLEANUP_INTERVAL,MONITOR_ONLY,LOG_LEVEL,DETECTION_LOG,METRICS_LISTEN,BTBLOCKER_DEBUG
PERM_BIN  := --allow-ffi --allow-read --allow-write=/var/log,/run,/tmp --allow-env=$(ENV_VARS) \
             --allow-sys=networkInterfaces --allow-run=nft --allow-net=127.0.0.1,[::1],0.0.0.0,[::]
PERM_READ := --allow-ffi --allow-read --allow-env=$(ENV_VARS)
# A small young generation: the hot path allocates nothing per packet, and each worker's
# isolate then stays smaller (tens of MiB less with the default 4 workers).
V8_FLAGS  := --v8-flags=--max-semi-space-size=1
PERM_TEST := --allow-ffi --allow-read --allow-write --allow-run --allow-env --allow-sys --allow-net
PERM_LAB  := --allow-run --allow-read --allow-write --allow-env --allow-sys=uid

.PHONY: all deps deno debs debs-test lab-tools test check demo bench bench-read build install uninstall clean bpf vendor

all: test

deps: deno debs

# Deno from npm, pinned; replaced when another version is installed.
deno:
	@if [ "$$(deno --version 2>/dev/null | head -n1 | cut -d' ' -f2)" != "$(DENO_VERSION)" ]; then \
		echo "Installing deno $(DENO_VERSION) from npm"; \
		command -v npm >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm); \
		npm install -g --silent deno@$(DENO_VERSION); \
	fi

# The npm packages are vendored: node_modules/ is committed (deno.json "nodeModulesDir":
# "manual"), so checks, tests and runs need no registry. This refreshes it from package.json
# and package-lock.json after a version change.
vendor:
	npm ci --ignore-scripts --no-audit --no-fund

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

# The tests that read ../shared (the labelled corpus) when it is there: they pass without it, and
# the corpus adds to what they check (tests/readme_test.ts checks this list is complete).
SHARED_TESTS := tests/corpus_test.ts tests/pool_corpus_test.ts tests/fuzz_test.ts cli/pcapng_chunks_test.ts

# The whole suite once in a pristine copy of the checkout (no ../shared, empty DENO_DIR, npm
# registry unreachable), then the tests that read ../shared again here with the corpus.
# The npm packages of the look-alike lab's Node programs (tests/lab/node/), installed once into
# ~/.cache/btblocker-lab/npm: test tools, not dependencies of btblocker, so not vendored.
lab-tools: deno
	deno run $(PERM_LAB) tests/lab/main.ts tools

test: deno debs-test check lab-tools
	bash .ci/pristine_test.sh "$(PERM_TEST)" $(SHARED_TESTS)

# One lab scenario, explained: a real client's download blocked, a web fetch passing.
demo: deno
	@$(call install_missing,$(DEB_RUNTIME) $(DEB_LAB) tcpdump iproute2 iputils-ping util-linux)
	deno run $(PERM_LAB) tests/lab/main.ts demo

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

# The single binary: the XDP object is a module (ffi/xdp_object.ts); the worker and the build
# information are included explicitly.
build: deno
	mkdir -p build
	printf '{"commit":"%s","date":"%s"}\n' "$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
		"$$(date -u +%Y-%m-%dT%H:%M:%SZ)" > build/build_info.json
	deno compile $(V8_FLAGS) $(PERM_BIN) --include workers/inspector_worker.ts --include build/build_info.json \
		--output btblocker main.ts

# Installing on a firewall host: the binary, the systemd unit, its environment file (kept if
# present), the logrotate snippet and the README. DESTDIR stages the files elsewhere.
PREFIX ?= /usr/local
install:
	@[ -x btblocker ] || $(MAKE) build
	install -D -m 0755 btblocker $(DESTDIR)$(PREFIX)/bin/btblocker
	install -D -m 0644 packaging/btblocker.service $(DESTDIR)/etc/systemd/system/btblocker.service
	[ -e $(DESTDIR)/etc/default/btblocker ] || \
		install -D -m 0644 packaging/btblocker.env $(DESTDIR)/etc/default/btblocker
	install -D -m 0644 packaging/btblocker.logrotate $(DESTDIR)/etc/logrotate.d/btblocker
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/btblocker/README.md
	install -d -m 0750 $(DESTDIR)/var/log/btblocker
	@if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null && systemctl daemon-reload 2>/dev/null; then \
		echo "installed: edit /etc/default/btblocker, then systemctl enable --now btblocker"; fi

uninstall:
	-@[ -n "$(DESTDIR)" ] || systemctl disable --now btblocker 2>/dev/null
	rm -f $(DESTDIR)$(PREFIX)/bin/btblocker $(DESTDIR)/etc/systemd/system/btblocker.service \
		$(DESTDIR)/etc/logrotate.d/btblocker
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/btblocker
	@echo "kept /etc/default/btblocker, /var/log/btblocker and pinned bans (btblocker bans flush)"

clean:
	rm -rf btblocker build
