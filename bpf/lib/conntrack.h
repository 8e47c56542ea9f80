/* SPDX-License-Identifier: Apache-2.0 */
/* Connection tracking: an LRU hash on the 5-tuple plus the direction of the hook that
 * admitted the flow. A flow admitted by an endpoint's egress policy (from-container) is
 * stored as (tuple, CT_EGRESS); one admitted by ingress policy (to-container) as
 * (tuple, CT_INGRESS). At a hook of direction d a packet is
 *   established  if (tuple, d) exists,
 *   reply        if (reversed tuple, opposite of d) exists,
 *   related      (ICMP errors) if (inner, opposite of d) or (reversed inner, d) exists.
 * Entries are created for every new flow that is forwarded, enforced or not, so replies
 * pass the other endpoint's policy. There is no TCP state machine: entries age out through
 * LRU eviction (documented gap). */
#pragma once
#include "common.h"
#include "parse.h"

#define CT_MAP_SIZE 262144

#define CT_INGRESS 0
#define CT_EGRESS 1

/* ct_state in flow events */
#define CT_NEW 0
#define CT_ESTABLISHED 1
#define CT_REPLY 2
#define CT_RELATED 3

struct ct_key {
	__u32 saddr[4];
	__u32 daddr[4];
	__u16 sport; /* network byte order */
	__u16 dport; /* network byte order */
	__u8 nexthdr;
	__u8 dir;    /* CT_INGRESS / CT_EGRESS */
	__u8 family;
	__u8 pad;
};

struct ct_entry {
	__u64 created;   /* bpf_ktime_get_ns */
	__u64 last_seen; /* bpf_ktime_get_ns */
	__u64 packets;
	__u64 bytes;
	__u32 src_identity; /* identity of the flow's originator */
	__u8 tcp_flags_seen;
	__u8 flags;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ct_key);
	__type(value, struct ct_entry);
	__uint(max_entries, CT_MAP_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_ct SEC(".maps");

static __always_inline void ct_key_from(struct ct_key *k, const struct tuple *t, int reverse,
					__u8 dir)
{
	__builtin_memset(k, 0, sizeof(*k));
	if (reverse) {
		__builtin_memcpy(k->saddr, t->daddr, 16);
		__builtin_memcpy(k->daddr, t->saddr, 16);
		k->sport = t->dport;
		k->dport = t->sport;
	} else {
		__builtin_memcpy(k->saddr, t->saddr, 16);
		__builtin_memcpy(k->daddr, t->daddr, 16);
		k->sport = t->sport;
		k->dport = t->dport;
	}
	k->nexthdr = t->nexthdr;
	k->family = t->family;
	k->dir = dir;
}

static __always_inline int ct_touch(struct ct_key *k, __u32 len, __u8 tcp_flags)
{
	struct ct_entry *e = bpf_map_lookup_elem(&cilium_ct, k);

	if (!e)
		return 0;
	e->last_seen = bpf_ktime_get_ns();
	__sync_fetch_and_add(&e->packets, 1);
	__sync_fetch_and_add(&e->bytes, len);
	e->tcp_flags_seen |= tcp_flags;
	return 1;
}

/* ct_dir is the direction this hook admits new flows in (CT_EGRESS for from-container). */
__attribute__((noinline)) int ct_lookup(struct __sk_buff *ctx, const struct pkt *p, __u8 ct_dir)
{
	__u8 other = ct_dir == CT_EGRESS ? CT_INGRESS : CT_EGRESS;
	struct ct_key k;

	if (!p)
		return CT_NEW;

	if (p->kind == PKT_ICMP_ERROR) {
		if (!p->has_inner)
			return CT_NEW;
		ct_key_from(&k, &p->inner, 0, other);
		if (bpf_map_lookup_elem(&cilium_ct, &k))
			return CT_RELATED;
		ct_key_from(&k, &p->inner, 1, ct_dir);
		if (bpf_map_lookup_elem(&cilium_ct, &k))
			return CT_RELATED;
		return CT_NEW;
	}
	ct_key_from(&k, &p->t, 0, ct_dir);
	if (ct_touch(&k, ctx->len, p->tcp_flags))
		return CT_ESTABLISHED;
	ct_key_from(&k, &p->t, 1, other);
	if (ct_touch(&k, ctx->len, p->tcp_flags))
		return CT_REPLY;
	return CT_NEW;
}

static __always_inline void ct_create(struct __sk_buff *ctx, const struct pkt *p, __u8 ct_dir,
				      __u32 src_identity)
{
	struct ct_entry e = {};
	struct ct_key k;

	if (p->kind != PKT_NORMAL)
		return; /* ICMP errors and NDP are never connections */
	ct_key_from(&k, &p->t, 0, ct_dir);
	e.created = bpf_ktime_get_ns();
	e.last_seen = e.created;
	e.packets = 1;
	e.bytes = ctx->len;
	e.src_identity = src_identity;
	e.tcp_flags_seen = p->tcp_flags;
	bpf_map_update_elem(&cilium_ct, &k, &e, BPF_ANY);
}
