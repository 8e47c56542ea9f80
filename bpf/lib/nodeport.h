/* SPDX-License-Identifier: Apache-2.0 */
/* North-south services (Cilium's bpf/lib/nodeport.h semantics): a client outside the cluster
 * reaching a NodePort, LoadBalancer IP or externalIP (the frontend's external scope) through a
 * node's external interface.
 *   request   cil_from_netdev (bpf_host.c) picks the backend with Maglev over the 5-tuple (the
 *             client's affinity backend first when the service has ClientIP affinity; Maglev then
 *             hashes without the source port), checks loadBalancerSourceRanges and DNATs to the
 *             backend. A backend on this node gets the packet with the client's address (as in
 *             Cilium, whatever --bpf-lb-mode says), handed to the pod's host veth so that
 *             cil_to_container judges it with the client's identity (world). A backend elsewhere
 *             is also SNATed (--bpf-lb-mode=snat): source = the node's address and a port of
 *             NODEPORT_PORT_MIN_NAT..MAX_NAT claimed in cilium_snat_v4_external, so its reply
 *             returns here; --bpf-lb-mode=dsr falls back to SNAT for such backends until the
 *             multi-node issue carries the frontend to the backend's node.
 *   reply     the backend's reply gets the client back as destination (SNAT) and the frontend as
 *             source, and leaves by the interface the request came in on, addressed to the MAC the
 *             request came from: from cil_from_container (local backend, after its egress
 *             conntrack) or from cil_from_netdev (a remote backend's reply to the SNAT address).
 * cilium_snat_v4_external holds both directions of a flow, keyed by nat4_key:
 *   NAT_DIR_FWD  the client's tuple to the frontend -> backend, SNAT address and port
 *   NAT_DIR_REV  the reply's tuple (backend -> client, or -> SNAT address and port) -> client,
 *                rev-NAT id, interface and MACs to send the reply with
 * Entries age out through LRU eviction. IPv4 only (IPv6 north-south passes untouched). */
#pragma once
#include "common.h"
#include "drop.h"
#include "parse.h"
#include "maps.h"
#include "lb.h"
#include "lb-nat.h"

#define SNAT_MAP_SIZE 262144

#define NAT_DIR_FWD 0
#define NAT_DIR_REV 1

/* nat4_entry.flags */
#define NAT_F_SNAT 0x01

/* nodeport_config.mode (--bpf-lb-mode) */
#define NODEPORT_MODE_SNAT 0
#define NODEPORT_MODE_DSR 1

/* Cilium's defaults: NodePorts below, SNAT ports above. */
#define NODEPORT_PORT_MIN_NAT 32768
#define NODEPORT_PORT_MAX_NAT 65535
#define SNAT_COLLISION_RETRIES 16

/* Returned by the nodeport functions when the packet is none of theirs. */
#define NP_PASS -1

struct nat4_key {
	__u32 saddr; /* network byte order */
	__u32 daddr;
	__u16 sport; /* network byte order */
	__u16 dport;
	__u8 nexthdr;
	__u8 dir;    /* NAT_DIR_* */
	__u16 pad;
};

struct nat4_entry {
	__u64 last_seen;     /* bpf_ktime_get_ns */
	__u32 to_addr;       /* FWD: the backend; REV: the client */
	__u32 nat_addr;      /* FWD: the SNAT address (NAT_F_SNAT) */
	__u32 backend_id;    /* FWD */
	__u32 ifindex;       /* REV: where the request came in and the reply leaves */
	__u16 to_port;       /* FWD: the backend's port; REV: the client's */
	__u16 nat_port;      /* FWD: the SNAT port (NAT_F_SNAT) */
	__u16 rev_nat_index;
	__u8 flags;          /* NAT_F_* */
	__u8 pad;
	__u8 client_mac[6];  /* REV: the request's source MAC, the reply's destination */
	__u8 if_mac[6];      /* REV: the request's destination MAC, the reply's source */
	__u32 pad2;
};

/* Written by the loader (src/datapath/nodeport.ts): one entry. */
struct nodeport_config {
	__u32 snat_addr;    /* network byte order: the node's address remote backends reply to */
	__u32 lut_size;     /* Maglev M: the size of the agent's inner tables */
	__u16 nat_port_min; /* host byte order */
	__u16 nat_port_max;
	__u8 mode;          /* NODEPORT_MODE_* */
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct nat4_key);
	__type(value, struct nat4_entry);
	__uint(max_entries, SNAT_MAP_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_snat_v4_external SEC(".maps");

static __always_inline void nat4_key_of(struct nat4_key *k, const struct tuple *t, __u8 dir)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->saddr = t->saddr[0];
	k->daddr = t->daddr[0];
	k->sport = t->sport;
	k->dport = t->dport;
	k->nexthdr = t->nexthdr;
	k->dir = dir;
}

/* Routers decrement TTL; then the frame gets its new MACs. -1: TTL expiring or a failed write. */
static __always_inline int np_l2_rewrite(struct __sk_buff *ctx, const __u8 *dst_mac, const __u8 *src_mac)
{
	__u8 ttl_proto[2];
	__u16 old, new;

	if (bpf_skb_load_bytes(ctx, ETH_HLEN + 8, ttl_proto, 2) < 0 || ttl_proto[0] <= 1)
		return -1;
	__builtin_memcpy(&old, ttl_proto, 2);
	ttl_proto[0]--;
	__builtin_memcpy(&new, ttl_proto, 2);
	if (bpf_l3_csum_replace(ctx, ETH_HLEN + 10, old, new, 2) < 0 ||
	    bpf_skb_store_bytes(ctx, ETH_HLEN + 8, ttl_proto, 2, 0) < 0)
		return -1;
	if (dst_mac && (bpf_skb_store_bytes(ctx, 0, dst_mac, 6, 0) < 0 ||
			bpf_skb_store_bytes(ctx, 6, src_mac, 6, 0) < 0))
		return -1;
	return 0;
}

/* A north-south backend's reply: translated back and sent out toward the client. `snat` says
 * which replies the caller may see: 1 those to the SNAT address (a remote backend's, arriving at
 * cil_from_netdev), 0 those straight to the client (a local backend's, leaving its pod). NP_PASS
 * when it is none, else the TC action. */
__attribute__((noinline)) int nodeport_reply4(struct __sk_buff *ctx, struct pkt *p, int snat)
{
	__u32 fe[4] = {}, client[4] = {};
	struct nat4_entry *e;
	struct nat4_key k;
	__u16 fe_port = 0;

	if (!p || p->kind != PKT_NORMAL || p->t.family != FAMILY_IPV4)
		return NP_PASS;
	if (p->t.nexthdr != IPPROTO_TCP && p->t.nexthdr != IPPROTO_UDP)
		return NP_PASS;
	nat4_key_of(&k, &p->t, NAT_DIR_REV);
	e = bpf_map_lookup_elem(&cilium_snat_v4_external, &k);
	if (!e || !(e->flags & NAT_F_SNAT) != !snat)
		return NP_PASS;
	if (lb_rev_nat(FAMILY_IPV4, e->rev_nat_index, fe, &fe_port) < 0)
		return NP_PASS;
	e->last_seen = bpf_ktime_get_ns();
	client[0] = e->to_addr;
	if (snat && lb_rewrite(ctx, p, 1, client, e->to_port) < 0)
		return TC_ACT_SHOT;
	if (lb_rewrite(ctx, p, 0, fe, fe_port) < 0 || np_l2_rewrite(ctx, e->client_mac, e->if_mac) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(e->ifindex, 0);
}
