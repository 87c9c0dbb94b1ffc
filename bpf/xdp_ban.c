// SPDX-License-Identifier: GPL-2.0
/*
 * btblocker's XDP ban filter: drops every IPv4 and IPv6 packet whose source or destination
 * address is in the ban maps, until the ban's expiry (CLOCK_BOOTTIME), and counts the drops.
 *
 * Userspace (ffi/xdp.ts) sizes the maps before load, fills them, and may pin them so that the
 * bans survive a restart. Build: `make bpf` (see bpf/build.sh).
 *
 * Frames: Ethernet, up to two VLAN tags (802.1Q / 802.1ad, in any order), then IPv4 (any IHL:
 * the addresses sit in the first 20 bytes) or IPv6 (the fixed header holds the addresses).
 * Anything else, and anything truncated, passes.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* One ban. Keep in sync with VALUE_* in ffi/xdp.ts. */
struct ban_value {
	__u64 expires_ns;      /* CLOCK_BOOTTIME ns the ban ends (bpf_ktime_get_boot_ns); 0 = never */
	__u64 banned_at_unix;  /* unix seconds the ban was installed (for restore after restart) */
	__u64 expires_at_unix; /* unix seconds the ban ends, 0 = never (for restore) */
	__u32 reason;          /* detection reason code */
	__u32 pad;
};

struct ipv6_key {
	__u8 addr[16];
};

/* max_entries are placeholders: userspace sets them from --max-bans before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 100000);
	__type(key, __u32); /* IPv4 address, network byte order */
	__type(value, struct ban_value);
} ban_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 100000);
	__type(key, struct ipv6_key);
	__type(value, struct ban_value);
} ban_v6 SEC(".maps");

/* Per CPU: [0] IPv4 packets, [1] IPv4 bytes, [2] IPv6 packets, [3] IPv6 bytes dropped. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

static __always_inline int is_banned(const struct ban_value *ban, __u64 *now)
{
	if (!ban)
		return 0;
	if (ban->expires_ns == 0)
		return 1;
	if (*now == 0)
		*now = bpf_ktime_get_boot_ns();
	return *now < ban->expires_ns;
}

static __always_inline int drop(__u32 index, __u64 bytes)
{
	__u64 *packets = bpf_map_lookup_elem(&stats, &index);
	if (packets)
		*packets += 1;
	index++;
	__u64 *total = bpf_map_lookup_elem(&stats, &index);
	if (total)
		*total += bytes;
	return XDP_DROP;
}

SEC("xdp")
int btblocker_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u64 now = 0;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	__be16 proto = eth->h_proto;
	void *cursor = eth + 1;

#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *vlan = cursor;
		if ((void *)(vlan + 1) > data_end)
			return XDP_PASS;
		proto = vlan->encapsulated_proto;
		cursor = vlan + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cursor;
		if ((void *)(ip + 1) > data_end)
			return XDP_PASS;
		__u32 saddr = ip->saddr;
		__u32 daddr = ip->daddr;
		if (is_banned(bpf_map_lookup_elem(&ban_v4, &saddr), &now) ||
		    is_banned(bpf_map_lookup_elem(&ban_v4, &daddr), &now))
			return drop(0, data_end - data);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cursor;
		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		if (is_banned(bpf_map_lookup_elem(&ban_v6, &ip6->saddr), &now) ||
		    is_banned(bpf_map_lookup_elem(&ban_v6, &ip6->daddr), &now))
			return drop(2, data_end - data);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
