/* SPDX-License-Identifier: Apache-2.0 */
/* One endpoint's verdict on a packet (conntrack, policy, flow events, metrics) and the hand-over
 * into a local pod, shared by every program that delivers to a pod: bpf_lxc.c (its own veth and
 * the same-node fast path) and bpf_overlay.c (a packet from another node, its source identity
 * taken from the tunnel's VNI). */
#pragma once
#include "common.h"
#include "drop.h"
#include "maps.h"
#include "parse.h"
#include "conntrack.h"
#include "policy.h"
#include "metrics.h"
#include "events.h"
#include "lb-ct.h"

/* The rev-NAT id of a packet lb_translate sent to a backend (its reply entry in cilium_lb_ct),
 * so the flow event names the Service; 0 for a packet that was not translated. */
static __attribute__((noinline)) __u16 flow_rev_nat(const struct pkt *p)
{
	struct lb_ct_entry *e;
	struct ct_key k;

	if (!p || p->kind != PKT_NORMAL || (p->t.nexthdr != IPPROTO_TCP && p->t.nexthdr != IPPROTO_UDP))
		return 0;
	ct_key_from(&k, &p->t, 1, CT_SERVICE_REV);
	e = bpf_map_lookup_elem(&cilium_lb_ct, &k);
	return e ? e->rev_nat_index : 0;
}

static __always_inline int drop_packet(struct __sk_buff *ctx, const struct pkt *p,
				       const struct endpoint_info *ep, __u32 src_id, __u32 dst_id,
				       __u8 reason, __u8 dir, __u8 ct_state)
{
	struct flow_meta m = {
		.ep_id = ep->ep_id, .src_id = src_id, .dst_id = dst_id,
		.verdict = VERDICT_DROPPED, .reason = reason, .dir = dir, .ct_state = ct_state,
		.rev_nat = flow_rev_nat(p),
	};

	metrics_update(reason, dir, ctx->len);
	emit_flow(ctx, p, &m);
	return TC_ACT_SHOT;
}

/* Conntrack and, for a new flow, policy of one endpoint in one direction. 0 to forward,
 * else a drop reason; *ct_state says which conntrack case matched. */
static __always_inline int lxc_verdict(struct __sk_buff *ctx, const struct pkt *p,
				       const struct endpoint_info *ep, __u8 dir, __u32 src_id,
				       __u32 peer_id, int *ct_state)
{
	const __u8 ct_dir = dir == DIR_EGRESS ? CT_EGRESS : CT_INGRESS;
	int ret;

	*ct_state = ct_lookup(ctx, p, ct_dir);
	if (*ct_state != CT_NEW)
		return REASON_FORWARDED;
	if (ep_enforces(ep, dir)) {
		ret = policy_check(ep->ep_id, peer_id, dir, p->t.nexthdr, p->policy_port);
		if (ret != REASON_FORWARDED)
			return ret;
	}
	ct_create(ctx, p, ct_dir, src_id);
	return REASON_FORWARDED;
}

static __always_inline void forwarded(struct __sk_buff *ctx, const struct pkt *p,
				      const struct endpoint_info *ep, __u32 src_id, __u32 dst_id,
				      __u8 dir, int ct_state)
{
	metrics_update(REASON_FORWARDED, dir, ctx->len);
	if (ct_state == CT_NEW) {
		struct flow_meta m = {
			.ep_id = ep->ep_id, .src_id = src_id, .dst_id = dst_id,
			.verdict = VERDICT_FORWARDED, .reason = REASON_FORWARDED, .dir = dir,
			.ct_state = CT_NEW, .rev_nat = flow_rev_nat(p),
		};

		emit_flow(ctx, p, &m);
	}
}

/* The local endpoint owning daddr and the ifindex of its host veth, or NULL. */
static __always_inline struct endpoint_info *local_endpoint(const struct pkt *p, __u32 *ifindex)
{
	struct endpoint_key key = {};
	__u32 *idx;

	__builtin_memcpy(key.ip6, p->t.daddr, 16);
	key.family = p->t.family;
	idx = bpf_map_lookup_elem(&cilium_lxc_ip, &key);
	if (!idx)
		return 0;
	*ifindex = *idx;
	return bpf_map_lookup_elem(&cilium_lxc, idx);
}

/* Rewrites L2 for the destination pod and decrements TTL / hop limit as a router would.
 * Returns 0, or -1 when the packet must go through the stack instead (TTL expiring, so the
 * stack sends the ICMP error; or a failed write). */
static __always_inline int prepare_redirect(struct __sk_buff *ctx, const struct pkt *p,
					    const struct endpoint_info *dst)
{
	if (p->t.family == FAMILY_IPV4) {
		__u16 old, new;
		__u8 ttl_proto[2];

		if (bpf_skb_load_bytes(ctx, ETH_HLEN + 8, ttl_proto, 2) < 0 || ttl_proto[0] <= 1)
			return -1;
		__builtin_memcpy(&old, ttl_proto, 2);
		ttl_proto[0]--;
		__builtin_memcpy(&new, ttl_proto, 2);
		if (bpf_l3_csum_replace(ctx, ETH_HLEN + 10, old, new, 2) < 0 ||
		    bpf_skb_store_bytes(ctx, ETH_HLEN + 8, ttl_proto, 2, 0) < 0)
			return -1;
	} else {
		__u8 hops;

		if (bpf_skb_load_bytes(ctx, ETH_HLEN + 7, &hops, 1) < 0 || hops <= 1)
			return -1;
		hops--;
		if (bpf_skb_store_bytes(ctx, ETH_HLEN + 7, &hops, 1, 0) < 0)
			return -1;
	}
	if (bpf_skb_store_bytes(ctx, 0, dst->mac, 6, 0) < 0 ||
	    bpf_skb_store_bytes(ctx, 6, dst->node_mac, 6, 0) < 0)
		return -1;
	return 0;
}
