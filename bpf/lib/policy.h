/* SPDX-License-Identifier: Apache-2.0 */
/* Policy: one LPM trie per endpoint, held in a hash-of-maps keyed by endpoint id so the
 * agent can build a new inner map and swap it in atomically.
 *
 * Key bits, in LPM order: sec_label (32), egress (8), protocol (8), dport (16, network
 * order) — as Cilium's policy_key. prefixlen counts from sec_label:
 *   40       any protocol, any port   (L3-only rule)
 *   48       one protocol, any port
 *   48 + n   one protocol, a port range aligned to 2^(16-n) (ranges become several keys)
 *   64       one protocol, one port
 * Wildcard identity is sec_label 0 (looked up separately, as Cilium does).
 *
 * An LPM lookup only returns the longest match, but a shorter deny must still win over a
 * longer allow. So each entry carries its own prefix length, and the lookup walks the chain
 * of ever shorter matches (the key's prefixlen caps the match length) for the peer identity
 * and for identity 0: any deny on either chain -> DROP_POLICY_DENY, else any allow ->
 * forward, else DROP_POLICY. ICMP and ICMPv6 are matched with the ICMP type in dport, so once
 * L4 rules apply, ICMP that is neither related to a tracked connection nor allowed by an L3
 * or ICMP rule is dropped (Cilium's behaviour). */
#pragma once
#include "common.h"
#include "drop.h"

#define POLICY_MAP_SIZE 131072
#define POLICY_OUTER_SIZE 65536
#define POLICY_FULL_PREFIX 64
#define POLICY_MIN_PREFIX 40 /* identity + direction are always matched */
#define POLICY_MAX_CHAIN (POLICY_FULL_PREFIX - POLICY_MIN_PREFIX + 1)

/* policy_entry.flags */
#define POLICY_F_DENY 0x01

struct policy_key {
	__u32 prefixlen;
	__u32 sec_label;
	__u8 egress; /* 1 = egress, 0 = ingress */
	__u8 protocol;
	__u16 dport; /* network byte order */
};

struct policy_entry {
	__u16 proxy_port; /* network byte order; reserved, L7 proxy is not implemented */
	__u8 flags;
	__u8 auth_type;
	__u8 lpm_prefix_length; /* must equal the key's prefixlen */
	__u8 pad[3];
};

struct policy_inner_map {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	/* Sizes, not types: clang leaves these structs as forward declarations in the BTF of a
	 * type only reached through the outer map, and libbpf then rejects the inner map. */
	__uint(key_size, sizeof(struct policy_key));
	__uint(value_size, sizeof(struct policy_entry));
	__uint(max_entries, POLICY_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__type(key, __u32); /* endpoint id */
	__uint(max_entries, POLICY_OUTER_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct policy_inner_map);
} cilium_policy SEC(".maps");

#define POLICY_MATCH_NONE 0
#define POLICY_MATCH_ALLOW 1
#define POLICY_MATCH_DENY 2

static __always_inline int policy_chain(void *pmap, __u32 identity, __u8 egress, __u8 proto,
					__u16 port)
{
	struct policy_key k = {
		.prefixlen = POLICY_FULL_PREFIX,
		.sec_label = identity,
		.egress = egress,
		.protocol = proto,
		.dport = bpf_htons(port),
	};
	int match = POLICY_MATCH_NONE;
	int i;

	for (i = 0; i < POLICY_MAX_CHAIN; i++) {
		struct policy_entry *e = bpf_map_lookup_elem(pmap, &k);
		__u32 plen;

		if (!e)
			break;
		if (e->flags & POLICY_F_DENY)
			return POLICY_MATCH_DENY;
		match = POLICY_MATCH_ALLOW;
		plen = e->lpm_prefix_length;
		/* A bad prefix length stops the walk instead of looping. */
		if (plen <= POLICY_MIN_PREFIX || plen > k.prefixlen)
			break;
		k.prefixlen = plen - 1;
	}
	return match;
}

/* 0 to forward, else a drop reason. */
__attribute__((noinline)) int policy_check(__u32 ep_id, __u32 peer_identity, __u8 dir, __u8 proto,
					__u16 port)
{
	__u8 egress = dir == DIR_EGRESS;
	void *pmap = bpf_map_lookup_elem(&cilium_policy, &ep_id);
	int a, b;

	if (!pmap)
		return DROP_POLICY; /* enforced but no policy map: default deny */
	a = policy_chain(pmap, peer_identity, egress, proto, port);
	if (a == POLICY_MATCH_DENY)
		return DROP_POLICY_DENY;
	b = POLICY_MATCH_NONE;
	if (peer_identity != 0)
		b = policy_chain(pmap, 0, egress, proto, port);
	if (b == POLICY_MATCH_DENY)
		return DROP_POLICY_DENY;
	if (a == POLICY_MATCH_ALLOW || b == POLICY_MATCH_ALLOW)
		return REASON_FORWARDED;
	return DROP_POLICY;
}
