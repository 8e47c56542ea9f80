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
 * last step before it enters the client pod (cil_to_container, or the same-node redirect).
 * Other nodes (lib/encap.h): in tunnel mode a packet for a remote pod is redirected into
 * cilium_vxlan with the source identity as VNI; bpf_overlay.c delivers it on the other side. */
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
#include "lib/endpoint-verdict.h"
#include "lib/encap.h"

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
	if (!dst_ep) {
		/* Another node's pod: into the tunnel with our identity as VNI (tunnel mode), or the stack. */
		ret = encap_remote(ctx, &p, src_id, &dst_ifindex);
		if (ret == ENCAP_PASS)
			return TC_ACT_OK;
		if (ret != REASON_FORWARDED)
			return drop_packet(ctx, &p, ep, src_id, dst_id, (__u8)ret, dir, ct_state);
		return bpf_redirect(dst_ifindex, 0);
	}
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
