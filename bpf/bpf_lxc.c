/* SPDX-License-Identifier: Apache-2.0 */
/* tc programs for a pod's host-side veth.
 *   cil_from_container  tc ingress of the host veth = traffic leaving the pod: the egress
 *                       policy of the source endpoint.
 *   cil_to_container    tc egress of the host veth = traffic entering the pod: the ingress
 *                       policy of the destination endpoint.
 * Same-node pod-to-pod: when the destination address is a local endpoint (cilium_lxc_ip),
 * cil_from_container also applies the destination's ingress policy and, if both pass, hands
 * the packet straight into the destination pod with bpf_redirect_peer (MACs rewritten, TTL
 * decremented), bypassing the host stack and the destination's cil_to_container.
 * The endpoint is found by the veth's ifindex in cilium_lxc; enforcement, identities and
 * policy all come from maps, so nothing is recompiled per endpoint.
 * Services (east-west): cil_from_container translates a packet to a frontend into one to a
 * backend before conntrack and policy (lib/lb-nat.h); a reply gets its frontend back as the
 * last step before it enters the client pod (cil_to_container, or the same-node redirect). */
#include "lib/common.h"
#include "lib/drop.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/ipcache.h"
#include "lib/conntrack.h"
#include "lib/policy.h"
#include "lib/metrics.h"
#include "lib/events.h"
#include "lib/lb-nat.h"
#include "lib/nodeport.h"

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

static __always_inline int handle_lxc(struct __sk_buff *ctx, const __u8 dir)
{
	__u32 ifindex = ctx->ifindex, dst_ifindex = 0;
	struct endpoint_info *ep, *dst_ep;
	struct pkt p = {};
	__u32 src_id, dst_id, peer_id;
	int ret, ct_state;

	ep = bpf_map_lookup_elem(&cilium_lxc, &ifindex);
	if (!ep)
		return TC_ACT_OK; /* not one of our endpoints (yet): leave it alone */
	if (dir == DIR_INGRESS && ctx->mark == LB_MARK_REJECT) {
		ctx->mark = 0;
		return TC_ACT_OK; /* our own answer to the pod's packet (lb_reject4) */
	}

	ret = parse_packet(ctx, &p);
	if (ret == PARSE_PASS)
		return TC_ACT_OK;
	if (ret != PARSE_OK) {
		/* Identities are unknown for a packet we could not parse. */
		__u32 self = ep->sec_identity;

		return drop_packet(ctx, &p, ep, dir == DIR_EGRESS ? self : 0,
				   dir == DIR_EGRESS ? 0 : self, (__u8)ret, dir, CT_NEW);
	}

	if (dir == DIR_EGRESS) {
		ret = lb_translate(ctx, &p);
		if (ret != REASON_FORWARDED) {
			drop_packet(ctx, &p, ep, ep->sec_identity, ipcache_identity(p.t.family, p.t.daddr),
				    (__u8)ret, dir, CT_NEW);
			/* No backend: the client is told at once (ICMP port unreachable, IPv4). */
			if (ret == DROP_NO_SERVICE && lb_reject4(ctx, &p) == 0)
				return bpf_redirect(ifindex, 0);
			return TC_ACT_SHOT;
		}
		src_id = ep->sec_identity;
		peer_id = dst_id = ipcache_identity(p.t.family, p.t.daddr);
	} else {
		peer_id = src_id = ipcache_identity(p.t.family, p.t.saddr);
		dst_id = ep->sec_identity;
	}

	if (p.kind == PKT_NDP) {
		metrics_update(REASON_FORWARDED, dir, ctx->len);
		return TC_ACT_OK;
	}

	ret = lxc_verdict(ctx, &p, ep, dir, src_id, peer_id, &ct_state);
	if (ret != REASON_FORWARDED)
		return drop_packet(ctx, &p, ep, src_id, dst_id, (__u8)ret, dir, CT_NEW);
	forwarded(ctx, &p, ep, src_id, dst_id, dir, ct_state);
	if (dir == DIR_EGRESS) {
		/* A backend's reply to a north-south client: back to it out of the external interface. */
		ret = nodeport_reply4(ctx, &p, 0);
		if (ret != NP_PASS)
			return ret;
	}

	if (dir == DIR_INGRESS) {
		ret = lb_reverse(ctx, &p);
		if (ret != REASON_FORWARDED)
			return drop_packet(ctx, &p, ep, src_id, dst_id, (__u8)ret, dir, ct_state);
		return TC_ACT_OK;
	}
	if (p.kind != PKT_NORMAL)
		return TC_ACT_OK;
	dst_ep = local_endpoint(&p, &dst_ifindex);
	if (!dst_ep)
		return TC_ACT_OK;
	/* Same node: the destination's ingress policy, here, then straight into its pod. */
	dst_id = dst_ep->sec_identity;
	ret = lxc_verdict(ctx, &p, dst_ep, DIR_INGRESS, src_id, src_id, &ct_state);
	if (ret != REASON_FORWARDED)
		return drop_packet(ctx, &p, dst_ep, src_id, dst_id, (__u8)ret, DIR_INGRESS, CT_NEW);
	forwarded(ctx, &p, dst_ep, src_id, dst_id, DIR_INGRESS, ct_state);
	if (prepare_redirect(ctx, &p, dst_ep) < 0)
		return TC_ACT_OK; /* untranslated: the client's cil_to_container translates it */
	ret = lb_reverse(ctx, &p);
	if (ret != REASON_FORWARDED)
		return drop_packet(ctx, &p, dst_ep, src_id, dst_id, (__u8)ret, DIR_INGRESS, ct_state);
	return bpf_redirect_peer(dst_ifindex, 0);
}

SEC("tc")
int cil_from_container(struct __sk_buff *ctx)
{
	return handle_lxc(ctx, DIR_EGRESS);
}

SEC("tc")
int cil_to_container(struct __sk_buff *ctx)
{
	return handle_lxc(ctx, DIR_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
