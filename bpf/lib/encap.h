/* SPDX-License-Identifier: Apache-2.0 */
/* Tunnel encapsulation between nodes (Cilium's bpf/lib/encap.h semantics): in tunnel mode a pod's
 * packet for a remote node's pod leaves through the node's collect-metadata tunnel device
 * (cilium_vxlan), the tunnel key naming the remote node (the ipcache's tunnel endpoint of the
 * destination) and carrying the SOURCE's security identity as the VNI, so the receiving node
 * (bpf_overlay.c) judges it without an ipcache lookup. The VNI has 24 bits: an identity above
 * that cannot be carried (dropped, DROP_INVALID_IDENTITY); world-ipv4/world-ipv6 collapse to
 * world as in Cilium's get_tunnel_id. In native mode nothing is encapsulated: the packet goes
 * to the stack, whose routes reach the other nodes' pod CIDRs.
 * The routing mode and the tunnel device are in cilium_encap_cfg (one entry, pinned, written by
 * src/datapath/overlay.ts); all zeros = native, so a node without the overlay never tunnels. */
#pragma once
#include "common.h"
#include "drop.h"
#include "parse.h"
#include "ipcache.h"

/* encap_config.mode (--routing-mode) */
#define ROUTING_MODE_NATIVE 0
#define ROUTING_MODE_TUNNEL 1
/* encap_config.protocol (--tunnel-protocol) */
#define TUNNEL_PROTO_VXLAN 1
#define TUNNEL_PROTO_GENEVE 2

/* Bytes a VXLAN encapsulation adds (outer Ethernet, IPv4, UDP, VXLAN): the pod MTU is lowered by it. */
#define TUNNEL_OVERHEAD 50
#define TUNNEL_TTL 64
/* The VNI's 24 bits. */
#define TUNNEL_ID_MAX 0xffffff

#define IDENTITY_WORLD_IPV4 9
#define IDENTITY_WORLD_IPV6 10

/* Returned by encap_remote when the packet is not the tunnel's. */
#define ENCAP_PASS -1

struct encap_config {
	__u32 tunnel_ifindex; /* the tunnel device in the node's network namespace */
	__u8 mode;            /* ROUTING_MODE_* */
	__u8 protocol;        /* TUNNEL_PROTO_* */
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct encap_config);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_encap_cfg SEC(".maps");

/* The ipcache entry covering addr (longest prefix), or NULL. */
static __always_inline struct remote_endpoint_info *ipcache_lookup(__u8 family, const __u32 *addr)
{
	struct ipcache_key key = {};

	key.family = family;
	key.ip6[0] = addr[0];
	if (family == FAMILY_IPV6) {
		key.ip6[1] = addr[1];
		key.ip6[2] = addr[2];
		key.ip6[3] = addr[3];
		key.prefixlen = IPCACHE_STATIC_PREFIX + 128;
	} else {
		key.prefixlen = IPCACHE_STATIC_PREFIX + 32;
	}
	return bpf_map_lookup_elem(&cilium_ipcache, &key);
}

/* The VNI carrying a source identity (Cilium's get_tunnel_id). */
static __always_inline __u32 encap_tunnel_id(__u32 identity)
{
	if (identity == IDENTITY_WORLD_IPV4 || identity == IDENTITY_WORLD_IPV6)
		return IDENTITY_WORLD;
	return identity;
}

/* Tunnel mode and a destination on another node: sets the tunnel key and *ifindex to the tunnel
 * device, returns REASON_FORWARDED (the caller redirects there). ENCAP_PASS when the packet is
 * not for the tunnel (native mode, no tunnel endpoint); else a drop reason. */
static __always_inline int encap_remote(struct __sk_buff *ctx, const struct pkt *p, __u32 src_id, __u32 *ifindex)
{
	struct remote_endpoint_info *info;
	struct bpf_tunnel_key key = {};
	struct encap_config *cfg;
	__u32 zero = 0;

	cfg = bpf_map_lookup_elem(&cilium_encap_cfg, &zero);
	if (!cfg || cfg->mode != ROUTING_MODE_TUNNEL || !cfg->tunnel_ifindex)
		return ENCAP_PASS;
	info = ipcache_lookup(p->t.family, p->t.daddr);
	if (!info || !info->tunnel_endpoint)
		return ENCAP_PASS;
	if (src_id > TUNNEL_ID_MAX)
		return DROP_INVALID_IDENTITY;
	key.remote_ipv4 = bpf_ntohl(info->tunnel_endpoint);
	key.tunnel_id = encap_tunnel_id(src_id);
	key.tunnel_ttl = TUNNEL_TTL;
	if (bpf_skb_set_tunnel_key(ctx, &key, sizeof(key), BPF_F_ZERO_CSUM_TX) < 0)
		return DROP_INVALID;
	*ifindex = cfg->tunnel_ifindex;
	return REASON_FORWARDED;
}
