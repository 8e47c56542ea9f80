/* SPDX-License-Identifier: Apache-2.0 */
/* East-west service translation for bpf_lxc (Cilium's lb4_local / lb4_rev_nat, per packet):
 *   lb_translate  a pod's TCP/UDP packet to a frontend leaves with a backend's address and port,
 *                 before conntrack and policy, so both see the backend (its identity, its port).
 *                 A new flow picks a backend at random over the service's slots (or its
 *                 session-affinity backend); an existing one keeps the backend in cilium_lb_ct.
 *   lb_reverse    a reply of a translated flow, about to enter its client, gets the frontend
 *                 back as its source (rev-NAT map); an ICMP error about a translated flow gets
 *                 its inner destination and, when the backend sent it, its outer source back.
 * Checksums are updated incrementally (L3, and L4 with the pseudo-header flag). */
#pragma once
#include "common.h"
#include "drop.h"
#include "parse.h"
#include "conntrack.h"
#include "lb.h"
#include "lb-ct.h"

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

/* The service behind the tuple's destination, or NULL. */
static __always_inline struct lb4_service *lb_lookup_service(union lb_key *k, const struct tuple *t)
{
	return lb_lookup_frontend(k, t->family, t->daddr, t->dport, t->nexthdr);
}

struct lb_backend_view {
	__u32 addr[4];
	__u16 port; /* network byte order */
	__u8 state;
	__u8 pad;
};

static __always_inline int lb_backend(__u8 family, __u32 id, struct lb_backend_view *b)
{
	__builtin_memset(b, 0, sizeof(*b));
	if (family == FAMILY_IPV4) {
		struct lb4_backend *be = bpf_map_lookup_elem(&cilium_lb4_backends_v3, &id);

		if (!be)
			return -1;
		b->addr[0] = be->address;
		b->port = be->port;
		b->state = be->flags;
		return 0;
	} else {
		struct lb6_backend *be = bpf_map_lookup_elem(&cilium_lb6_backends_v3, &id);

		if (!be)
			return -1;
		__builtin_memcpy(b->addr, be->address, 16);
		b->port = be->port;
		b->state = be->flags;
		return 0;
	}
}

/* The frontend of a rev-NAT id. */
static __always_inline int lb_rev_nat(__u8 family, __u16 id, __u32 *addr, __u16 *port)
{
	if (family == FAMILY_IPV4) {
		struct lb4_reverse_nat *r = bpf_map_lookup_elem(&cilium_lb4_reverse_nat, &id);

		if (!r)
			return -1;
		addr[0] = r->address;
		*port = r->port;
		return 0;
	} else {
		struct lb6_reverse_nat *r = bpf_map_lookup_elem(&cilium_lb6_reverse_nat, &id);

		if (!r)
			return -1;
		__builtin_memcpy(addr, r->address, 16);
		*port = r->port;
		return 0;
	}
}

static __always_inline int lb_in_source_range(__u8 family, __u16 rev_nat, const __u32 *saddr)
{
	if (family == FAMILY_IPV4) {
		struct lb4_src_range_key k = {
			.prefixlen = LB_SRC_RANGE_STATIC_PREFIX + 32, .rev_nat_id = rev_nat, .addr = saddr[0],
		};

		return bpf_map_lookup_elem(&cilium_lb4_source_range, &k) != 0;
	} else {
		struct lb6_src_range_key k = {
			.prefixlen = LB_SRC_RANGE_STATIC_PREFIX + 128, .rev_nat_id = rev_nat,
		};

		__builtin_memcpy(k.addr, saddr, 16);
		return bpf_map_lookup_elem(&cilium_lb6_source_range, &k) != 0;
	}
}

static __always_inline struct lb_affinity_val *lb_affinity_entry(__u8 family, const __u32 *client, __u16 rev_nat,
								  struct lb_affinity_val *init)
{
	if (family == FAMILY_IPV4) {
		struct lb4_affinity_key k = {};

		k.client_id.client_ip = client[0];
		k.rev_nat_id = rev_nat;
		if (init) {
			bpf_map_update_elem(&cilium_lb4_affinity, &k, init, BPF_ANY);
			return 0;
		}
		return bpf_map_lookup_elem(&cilium_lb4_affinity, &k);
	} else {
		struct lb6_affinity_key k = {};

		__builtin_memcpy(k.client_id.client_ip, client, 16);
		k.rev_nat_id = rev_nat;
		if (init) {
			bpf_map_update_elem(&cilium_lb6_affinity, &k, init, BPF_ANY);
			return 0;
		}
		return bpf_map_lookup_elem(&cilium_lb6_affinity, &k);
	}
}

/* The client's affinity backend while its timeout runs and it still serves the service, else 0. */
static __always_inline __u32 lb_affinity_backend(__u8 family, const __u32 *client, __u16 rev_nat, __u32 timeout)
{
	return lb_affinity_live(lb_affinity_entry(family, client, rev_nat, 0), rev_nat, timeout);
}

/* A backend for a new flow, or 0: the affinity backend, else a random slot's. The agent fills
 * the slots with the active backends, or with the terminating ones when no backend is active. */
static __always_inline __u32 lb_select(const struct pkt *p, union lb_key *key, const struct lb4_service *svc,
				       struct lb_backend_view *be)
{
	__u8 family = p->t.family;
	__u16 rev_nat = svc->rev_nat_index, count = svc->count;
	__u8 affinity = svc->flags & SVC_FLAG_AFFINITY;
	__u32 timeout = svc->backend_id;
	struct lb4_service *slot;
	__u32 id = 0;

	if (count == 0)
		return 0;
	if (affinity)
		id = lb_affinity_backend(family, p->t.saddr, rev_nat, timeout);
	if (!id || lb_backend(family, id, be) < 0) {
		slot = lb_service_slot(key, family, (bpf_get_prandom_u32() % count) + 1);
		if (!slot)
			return 0;
		id = slot->backend_id;
		if (!id || lb_backend(family, id, be) < 0)
			return 0;
	}
	if (affinity) {
		struct lb_affinity_val v = { .last_used = bpf_ktime_get_ns() / NSEC_PER_SEC, .backend_id = id };

		lb_affinity_entry(family, p->t.saddr, rev_nat, &v);
	}
	return id;
}

/* Rewrites the outer destination (dst) or source address and port, with incremental checksum
 * updates; p->t follows the packet. 0, or -1 on a failed write. */
static __always_inline int lb_rewrite(struct __sk_buff *ctx, struct pkt *p, int dst, const __u32 *addr, __u16 port)
{
	__u32 csum_at = p->l4_off + (p->t.nexthdr == IPPROTO_TCP ? 16 : 6);
	__u32 port_at = p->l4_off + (dst ? 2 : 0);
	__u32 *old = dst ? p->t.daddr : p->t.saddr;
	__u16 old_port = dst ? p->t.dport : p->t.sport;
	__u64 l4flags = p->t.nexthdr == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__u32 a[4];

	__builtin_memcpy(a, addr, 16);
	if (p->t.family == FAMILY_IPV4) {
		__u32 addr_at = ETH_HLEN + (dst ? 16 : 12);

		if (bpf_l4_csum_replace(ctx, csum_at, old[0], a[0], l4flags | BPF_F_PSEUDO_HDR | 4) < 0 ||
		    bpf_l3_csum_replace(ctx, ETH_HLEN + 10, old[0], a[0], 4) < 0 ||
		    bpf_skb_store_bytes(ctx, addr_at, a, 4, 0) < 0)
			return -1;
	} else {
		__u32 addr_at = ETH_HLEN + (dst ? 24 : 8);
		__s64 diff = bpf_csum_diff(old, 16, a, 16, 0);

		if (diff < 0 || bpf_l4_csum_replace(ctx, csum_at, 0, diff, BPF_F_PSEUDO_HDR) < 0 ||
		    bpf_skb_store_bytes(ctx, addr_at, a, 16, 0) < 0)
			return -1;
	}
	if (old_port != port) {
		if (bpf_l4_csum_replace(ctx, csum_at, old_port, port, l4flags | 2) < 0 ||
		    bpf_skb_store_bytes(ctx, port_at, &port, 2, 0) < 0)
			return -1;
	}
	__builtin_memcpy(old, a, 16);
	if (dst)
		p->t.dport = port;
	else
		p->t.sport = port;
	return 0;
}

/* A pure SYN (a new connection) on a tracked tuple whose backend has left the service: the
 * tuple is reused by a new connection, which must not go to the removed backend. */
static __always_inline int lb_backend_gone(const struct pkt *p, const struct lb_ct_entry *ce)
{
	struct lb_backend_view be;

	if (p->t.nexthdr != IPPROTO_TCP || (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
		return 0;
	if (lb_backend(p->t.family, ce->backend_id, &be) < 0)
		return 1;
	return be.port != ce->backend_port || be.addr[0] != ce->backend_addr[0] ||
	       be.addr[1] != ce->backend_addr[1] || be.addr[2] != ce->backend_addr[2] ||
	       be.addr[3] != ce->backend_addr[3];
}

/* 0 when the packet is not service traffic or was translated, else a drop reason. */
__attribute__((noinline)) int lb_translate(struct __sk_buff *ctx, struct pkt *p)
{
	struct lb_ct_entry *ce, ne = {};
	struct lb_backend_view be = {};
	struct lb4_service *svc;
	union lb_key key;
	struct ct_key ck;
	__u16 rev_nat;

	if (!p || p->kind != PKT_NORMAL)
		return 0;
	if (p->t.nexthdr != IPPROTO_TCP && p->t.nexthdr != IPPROTO_UDP)
		return 0;
	svc = lb_lookup_service(&key, &p->t);
	if (!svc)
		return 0;
	rev_nat = svc->rev_nat_index;
	if ((svc->flags & SVC_FLAG_SOURCE_RANGE) && !lb_in_source_range(p->t.family, rev_nat, p->t.saddr))
		return DROP_NOT_IN_SRC_RANGE;

	ct_key_from(&ck, &p->t, 0, CT_SERVICE);
	ce = bpf_map_lookup_elem(&cilium_lb_ct, &ck);
	if (ce && ce->rev_nat_index == rev_nat && !lb_backend_gone(p, ce)) {
		ce->last_seen = bpf_ktime_get_ns();
		__builtin_memcpy(be.addr, ce->backend_addr, 16);
		be.port = ce->backend_port;
		ne.backend_id = ce->backend_id;
	} else {
		ne.backend_id = lb_select(p, &key, svc, &be);
		if (!ne.backend_id)
			return DROP_NO_SERVICE;
		ne.last_seen = bpf_ktime_get_ns();
		__builtin_memcpy(ne.backend_addr, be.addr, 16);
		ne.backend_port = be.port;
		ne.rev_nat_index = rev_nat;
		bpf_map_update_elem(&cilium_lb_ct, &ck, &ne, BPF_ANY);
	}

	/* The reply's entry (backend -> client), written again should LRU have evicted it. */
	__builtin_memcpy(ck.saddr, be.addr, 16);
	__builtin_memcpy(ck.daddr, p->t.saddr, 16);
	ck.sport = be.port;
	ck.dport = p->t.sport;
	ck.dir = CT_SERVICE_REV;
	if (!bpf_map_lookup_elem(&cilium_lb_ct, &ck)) {
		struct lb_ct_entry rev = {
			.last_seen = bpf_ktime_get_ns(), .backend_id = ne.backend_id, .rev_nat_index = rev_nat,
		};

		bpf_map_update_elem(&cilium_lb_ct, &ck, &rev, BPF_ANY);
	}

	if (lb_rewrite(ctx, p, 1, be.addr, be.port) < 0)
		return DROP_INVALID;
	p->policy_port = bpf_ntohs(be.port);
	return 0;
}

/* An ICMP error about a translated flow (its inner packet went client -> backend): the inner
 * destination becomes the frontend again, and so does the outer source when the backend sent
 * the error. IPv4 only (ICMPv6 errors pass untranslated). The inner L4 checksum is left as it is:
 * the client's stack matches the error by addresses and ports, not by that checksum. */
static __always_inline int lb_reverse_icmp4(struct __sk_buff *ctx, struct pkt *p)
{
	__u32 icmp_csum_at = p->l4_off + 2, inner = p->inner_off;
	__u32 fe[4] = {}, old_addr = p->inner.daddr[0];
	__u16 fe_port = 0, old_port = p->inner.dport;
	struct lb_ct_entry *ce;
	struct ct_key ck;
	__u8 ihl;

	if (p->t.family != FAMILY_IPV4 || !p->has_inner)
		return 0;
	if (p->inner.nexthdr != IPPROTO_TCP && p->inner.nexthdr != IPPROTO_UDP)
		return 0;
	ct_key_from(&ck, &p->inner, 1, CT_SERVICE_REV);
	ce = bpf_map_lookup_elem(&cilium_lb_ct, &ck);
	if (!ce || lb_rev_nat(FAMILY_IPV4, ce->rev_nat_index, fe, &fe_port) < 0)
		return 0;
	if (bpf_skb_load_bytes(ctx, inner, &ihl, 1) < 0)
		return DROP_INVALID;
	ihl = (ihl & 0xf) * 4;
	/* Inner IP header: its checksum covers the address; the ICMP checksum covers all of it
	 * (the inner checksum's change and the address's change cancel out there but for the port). */
	if (bpf_l3_csum_replace(ctx, inner + 10, old_addr, fe[0], 4) < 0 ||
	    bpf_skb_store_bytes(ctx, inner + 16, fe, 4, 0) < 0)
		return DROP_INVALID;
	if (old_port != fe_port) {
		if (bpf_l4_csum_replace(ctx, icmp_csum_at, old_port, fe_port, 2) < 0 ||
		    bpf_skb_store_bytes(ctx, inner + ihl + 2, &fe_port, 2, 0) < 0)
			return DROP_INVALID;
	}
	p->inner.daddr[0] = fe[0];
	p->inner.dport = fe_port;
	if (p->t.saddr[0] == old_addr) {
		/* ICMP has no pseudo-header: only the IP header checksum covers the source. */
		if (bpf_l3_csum_replace(ctx, ETH_HLEN + 10, old_addr, fe[0], 4) < 0 ||
		    bpf_skb_store_bytes(ctx, ETH_HLEN + 12, fe, 4, 0) < 0)
			return DROP_INVALID;
		p->t.saddr[0] = fe[0];
	}
	return 0;
}

/* 0 (translated back, or nothing to do) or a drop reason on a failed write. */
__attribute__((noinline)) int lb_reverse(struct __sk_buff *ctx, struct pkt *p)
{
	struct lb_ct_entry *ce;
	__u32 fe[4] = {};
	struct ct_key ck;
	__u16 port = 0;

	if (!p)
		return 0;
	if (p->kind == PKT_ICMP_ERROR)
		return lb_reverse_icmp4(ctx, p);
	if (p->kind != PKT_NORMAL || (p->t.nexthdr != IPPROTO_TCP && p->t.nexthdr != IPPROTO_UDP))
		return 0;
	ct_key_from(&ck, &p->t, 0, CT_SERVICE_REV);
	ce = bpf_map_lookup_elem(&cilium_lb_ct, &ck);
	if (!ce || lb_rev_nat(p->t.family, ce->rev_nat_index, fe, &port) < 0)
		return 0;
	ce->last_seen = bpf_ktime_get_ns();
	return lb_rewrite(ctx, p, 0, fe, port) < 0 ? DROP_INVALID : 0;
}

/* skb->mark of an ICMP error lb_reject4 built, so cil_to_container lets it into the pod unjudged
 * (it answers the pod's own packet; nothing is tracked for it). */
#define LB_MARK_REJECT 0x0c1a0000

static __always_inline __u16 csum_fold_s64(__s64 csum)
{
	__u32 s = (__u32)csum;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* Cilium's service-no-backend-response=reject for IPv4: the packet becomes an ICMP destination
 * (port) unreachable from the frontend to the client, quoting its IP header and 8 bytes of L4,
 * so the client fails at once instead of retransmitting into a drop. 0 when the packet was
 * rewritten (the caller sends it back out of the interface toward the pod), else -1. */
__attribute__((noinline)) int lb_reject4(struct __sk_buff *ctx, struct pkt *p)
{
	__u8 macs[12], swapped[12];
	__u32 quote[7]; /* the IP header (no options) and the first 8 bytes of L4 */
	struct iphdr ip = {};
	struct icmphdr icmp = {};
	__s64 sum;
	int i;

	if (!p || p->t.family != FAMILY_IPV4 || p->l4_off != ETH_HLEN + sizeof(struct iphdr))
		return -1;
	if (bpf_skb_load_bytes(ctx, 0, macs, sizeof(macs)) < 0 ||
	    bpf_skb_load_bytes(ctx, ETH_HLEN, quote, sizeof(quote)) < 0)
		return -1;
	for (i = 0; i < 6; i++) {
		swapped[i] = macs[i + 6];
		swapped[i + 6] = macs[i];
	}
	ip.version = 4;
	ip.ihl = 5;
	ip.tot_len = bpf_htons(sizeof(ip) + sizeof(icmp) + sizeof(quote));
	ip.ttl = 64;
	ip.protocol = IPPROTO_ICMP;
	ip.saddr = p->t.daddr[0];
	ip.daddr = p->t.saddr[0];
	ip.check = csum_fold_s64(bpf_csum_diff(0, 0, (__u32 *)&ip, sizeof(ip), 0));
	icmp.type = ICMP_DEST_UNREACH;
	icmp.code = 3; /* port unreachable */
	sum = bpf_csum_diff(0, 0, (__u32 *)&icmp, sizeof(icmp), 0);
	icmp.checksum = csum_fold_s64(bpf_csum_diff(0, 0, quote, sizeof(quote), sum));
	if (bpf_skb_change_tail(ctx, ETH_HLEN + sizeof(ip) + sizeof(icmp) + sizeof(quote), 0) < 0)
		return -1;
	if (bpf_skb_store_bytes(ctx, 0, swapped, sizeof(swapped), 0) < 0 ||
	    bpf_skb_store_bytes(ctx, ETH_HLEN, &ip, sizeof(ip), 0) < 0 ||
	    bpf_skb_store_bytes(ctx, ETH_HLEN + sizeof(ip), &icmp, sizeof(icmp), 0) < 0 ||
	    bpf_skb_store_bytes(ctx, ETH_HLEN + sizeof(ip) + sizeof(icmp), quote, sizeof(quote), 0) < 0)
		return -1;
	ctx->mark = LB_MARK_REJECT;
	return 0;
}
