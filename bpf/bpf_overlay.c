/* SPDX-License-Identifier: Apache-2.0 */
/* tc program for a node's tunnel device (Cilium's bpf_overlay.c):
 *   cil_from_overlay  tc ingress of cilium_vxlan (collect-metadata): a packet another node's
 *                     bpf_lxc encapsulated (lib/encap.h). The source's security identity is the
 *                     VNI of the tunnel key, NOT an ipcache lookup; the destination is the local
 *                     endpoint owning the inner destination address (cilium_lxc_ip), whose
 *                     ingress policy and conntrack judge the packet exactly as on the same-node
 *                     path (lib/endpoint-verdict.h), with flow events and metrics; then it is
 *                     handed straight into the pod (bpf_redirect_peer, MACs rewritten, TTL
 *                     decremented).
 * A packet for no local endpoint (the node itself, a pod not yet known) goes to the stack, marked
 * PACKET_HOST: its inner destination MAC is the sending node's veth, not this device's. */
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
#include "lib/endpoint-verdict.h"
#include "lib/encap.h"

#ifndef PACKET_HOST
#define PACKET_HOST 0
#endif

static __always_inline int to_stack(struct __sk_buff *ctx)
{
	bpf_skb_change_type(ctx, PACKET_HOST);
	return TC_ACT_OK;
}

/* The source identity a VNI carries (Cilium's get_id_from_tunnel_id; world stays world). */
static __always_inline __u32 overlay_identity(__u32 tunnel_id)
{
	return tunnel_id & TUNNEL_ID_MAX;
}

SEC("tc")
int cil_from_overlay(struct __sk_buff *ctx)
{
	struct bpf_tunnel_key key = {};
	__u32 dst_ifindex = 0, src_id, dst_id;
	struct endpoint_info *ep;
	struct pkt p = {};
	int ret, ct_state;

	/* A collect-metadata device always has a key; without one the packet is not a tunnel's. */
	if (bpf_skb_get_tunnel_key(ctx, &key, sizeof(key), 0) < 0)
		return TC_ACT_OK;
	src_id = overlay_identity(key.tunnel_id);
	if (parse_packet(ctx, &p) != PARSE_OK || p.kind != PKT_NORMAL)
		return to_stack(ctx); /* ARP, fragments, ICMP errors: the stack (and cil_to_container) judge */
	ep = local_endpoint(&p, &dst_ifindex);
	if (!ep)
		return to_stack(ctx);
	dst_id = ep->sec_identity;
	if (src_id == IDENTITY_UNKNOWN)
		return drop_packet(ctx, &p, ep, src_id, dst_id, DROP_INVALID_IDENTITY, DIR_INGRESS, CT_NEW);

	ret = lxc_verdict(ctx, &p, ep, DIR_INGRESS, src_id, src_id, &ct_state);
	if (ret != REASON_FORWARDED)
		return drop_packet(ctx, &p, ep, src_id, dst_id, (__u8)ret, DIR_INGRESS, CT_NEW);
	forwarded(ctx, &p, ep, src_id, dst_id, DIR_INGRESS, ct_state);
	if (prepare_redirect(ctx, &p, ep) < 0)
		return to_stack(ctx); /* TTL expiring: the stack answers; cil_to_container sees it established */
	ret = lb_reverse(ctx, &p);
	if (ret != REASON_FORWARDED)
		return drop_packet(ctx, &p, ep, src_id, dst_id, (__u8)ret, DIR_INGRESS, ct_state);
	return bpf_redirect_peer(dst_ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
