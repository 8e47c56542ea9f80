/* SPDX-License-Identifier: Apache-2.0 */
/* tc program for a node's external interface (Cilium's bpf_host.c, north-south part):
 *   cil_from_netdev  tc ingress: a packet to a NodePort / LoadBalancer IP / externalIP frontend is
 *                    load-balanced (Maglev) and sent to its backend; a remote backend's reply to a
 *                    SNATed flow is translated back and sent to the client. Everything else goes
 *                    to the host stack untouched.
 * The semantics and the NAT map are in lib/nodeport.h; the local backends' replies are handled
 * by cil_from_container in bpf_lxc.c. No egress program is needed: replies are redirected out of
 * the interface already translated. */
#include "lib/common.h"
#include "lib/drop.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/metrics.h"
#include "lib/lb.h"
#include "lib/lb-nat.h"
#include "lib/nodeport.h"

#ifndef AF_INET
#define AF_INET 2
#endif

/* Not pinned: each loaded bpf_host object is configured by its loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct nodeport_config);
	__uint(max_entries, 1);
} cilium_nodeport_cfg SEC(".maps");

static __always_inline int np_drop(struct __sk_buff *ctx, __u8 reason)
{
	metrics_update(reason, DIR_INGRESS, ctx->len);
	return TC_ACT_SHOT;
}

/* Cilium's hash_from_tuple_v4 idea: jhash over addresses, ports and protocol; ClientIP affinity
 * leaves the source port out so one client keeps its backend. */
#define np_rol32(v, s) (((v) << (s)) | ((v) >> (32 - (s))))
static __always_inline __u32 np_jhash_3words(__u32 a, __u32 b, __u32 c, __u32 initval)
{
	a += 0xdeadbeef + (3 << 2) + initval;
	b += 0xdeadbeef + (3 << 2) + initval;
	c += 0xdeadbeef + (3 << 2) + initval;
	c ^= b; c -= np_rol32(b, 14);
	a ^= c; a -= np_rol32(c, 11);
	b ^= a; b -= np_rol32(a, 25);
	c ^= b; c -= np_rol32(b, 16);
	a ^= c; a -= np_rol32(c, 4);
	b ^= a; b -= np_rol32(a, 14);
	c ^= b; c -= np_rol32(b, 24);
	return c;
}

static __always_inline __u32 np_hash4(const struct tuple *t, int affinity)
{
	__u32 ports = ((__u32)(affinity ? 0 : t->sport) << 16) | t->dport;

	return np_jhash_3words(t->saddr[0], t->daddr[0], ports, t->nexthdr);
}

/* The backend of a new flow, or 0: the affinity backend, else Maglev's, else (no table yet) a
 * random slot's. */
static __always_inline __u32 np_select(const struct pkt *p, union lb_key *key, const struct lb4_service *svc,
				       struct lb_backend_view *be, __u32 lut_size)
{
	__u8 affinity = svc->flags & SVC_FLAG_AFFINITY;
	__u16 rev_nat = svc->rev_nat_index;
	__u32 id = 0;

	if (svc->count == 0)
		return 0;
	if (affinity)
		id = lb_affinity_backend(FAMILY_IPV4, p->t.saddr, rev_nat, svc->backend_id);
	if (!id || lb_backend(FAMILY_IPV4, id, be) < 0) {
		id = lb_maglev_backend(&cilium_lb4_maglev, rev_nat, np_hash4(&p->t, affinity), lut_size);
		if (!id || lb_backend(FAMILY_IPV4, id, be) < 0)
			return lb_select(p, key, svc, be);
	}
	if (affinity) {
		struct lb_affinity_val v = { .last_used = bpf_ktime_get_ns() / NSEC_PER_SEC, .backend_id = id };

		lb_affinity_entry(FAMILY_IPV4, p->t.saddr, rev_nat, &v);
	}
	return id;
}

/* A pure SYN on a tracked tuple whose backend left the service starts over (as lb_backend_gone). */
static __always_inline int np_backend_gone(const struct pkt *p, const struct nat4_entry *e)
{
	struct lb_backend_view be;

	if (p->t.nexthdr != IPPROTO_TCP || (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
		return 0;
	if (lb_backend(FAMILY_IPV4, e->backend_id, &be) < 0)
		return 1;
	return be.addr[0] != e->to_addr || be.port != e->to_port;
}

/* Claims a SNAT port for the reply tuple (backend -> SNAT address): the first free one of a few
 * tries, starting at the flow's hash. 0 on success. */
static __always_inline int np_snat_claim(struct nat4_key *rk, const struct nat4_entry *rev,
					 const struct nodeport_config *cfg, __u32 hash, __u16 *port)
{
	__u32 min = cfg->nat_port_min, max = cfg->nat_port_max, range;
	int i;

	if (!min || max < min) {
		min = NODEPORT_PORT_MIN_NAT;
		max = NODEPORT_PORT_MAX_NAT;
	}
	range = max - min + 1;
	for (i = 0; i < SNAT_COLLISION_RETRIES; i++) {
		__u16 candidate = (__u16)(min + (hash % range));

		rk->dport = bpf_htons(candidate);
		if (bpf_map_update_elem(&cilium_snat_v4_external, rk, rev, BPF_NOEXIST) == 0) {
			*port = rk->dport;
			return 0;
		}
		hash = bpf_get_prandom_u32();
	}
	return -1;
}

/* Sends a packet for a backend elsewhere the way the node's routing table says. */
static __always_inline int np_forward_routed(struct __sk_buff *ctx, const struct pkt *p)
{
	struct bpf_fib_lookup fib = {};
	int rc;

	fib.family = AF_INET;
	fib.l4_protocol = p->t.nexthdr;
	fib.sport = p->t.sport;
	fib.dport = p->t.dport;
	fib.ipv4_src = p->t.saddr[0];
	fib.ipv4_dst = p->t.daddr[0];
	fib.ifindex = ctx->ingress_ifindex;
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		if (np_l2_rewrite(ctx, fib.dmac, fib.smac) < 0)
			return np_drop(ctx, DROP_INVALID);
		return bpf_redirect(fib.ifindex, 0);
	}
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		if (np_l2_rewrite(ctx, 0, 0) < 0)
			return np_drop(ctx, DROP_INVALID);
		return bpf_redirect_neigh(fib.ifindex, 0, 0, 0);
	}
	return TC_ACT_OK; /* no route we can use: the stack decides */
}

/* A request to a north-south frontend: NP_PASS when it is none, else the TC action. */
__attribute__((noinline)) int nodeport_lb4(struct __sk_buff *ctx, struct pkt *p)
{
	struct nat4_entry *fwd, nf = {}, rev = {};
	struct lb_backend_view be = {};
	struct nodeport_config *cfg;
	struct endpoint_info *ep = 0;
	struct endpoint_key ek = {};
	struct nat4_key fk, rk;
	struct lb4_service *svc;
	__u32 client[4] = {}, snat_addr[4] = {}, backend[4] = {}, zero = 0, *ep_ifindex;
	__u16 rev_nat, client_port;
	union lb_key key;
	__u8 macs[12];

	if (!p || p->kind != PKT_NORMAL || p->t.family != FAMILY_IPV4)
		return NP_PASS;
	if (p->t.nexthdr != IPPROTO_TCP && p->t.nexthdr != IPPROTO_UDP)
		return NP_PASS;
	cfg = bpf_map_lookup_elem(&cilium_nodeport_cfg, &zero);
	if (!cfg)
		return NP_PASS;
	__builtin_memset(&key, 0, sizeof(key));
	key.k4.address = p->t.daddr[0];
	key.k4.dport = p->t.dport;
	key.k4.proto = p->t.nexthdr;
	key.k4.scope = LB_LOOKUP_SCOPE_EXT; /* outside clients always get the external scope */
	svc = lb_service_slot(&key, FAMILY_IPV4, 0);
	/* A ClusterIP is not reachable from outside: left to the stack, which has no route for it. */
	if (!svc || !(svc->flags & SVC_FLAG_ROUTABLE))
		return NP_PASS;
	rev_nat = svc->rev_nat_index;
	if ((svc->flags & SVC_FLAG_SOURCE_RANGE) && !lb_in_source_range(FAMILY_IPV4, rev_nat, p->t.saddr))
		return np_drop(ctx, DROP_NOT_IN_SRC_RANGE);

	client[0] = p->t.saddr[0];
	client_port = p->t.sport;
	nat4_key_of(&fk, &p->t, NAT_DIR_FWD);
	fwd = bpf_map_lookup_elem(&cilium_snat_v4_external, &fk);
	if (fwd && fwd->rev_nat_index == rev_nat && !np_backend_gone(p, fwd)) {
		fwd->last_seen = bpf_ktime_get_ns();
		nf = *fwd;
	} else {
		nf.backend_id = np_select(p, &key, svc, &be, cfg->lut_size);
		if (!nf.backend_id)
			return np_drop(ctx, DROP_NO_SERVICE);
		nf.to_addr = be.addr[0];
		nf.to_port = be.port;
		nf.rev_nat_index = rev_nat;
		nf.last_seen = bpf_ktime_get_ns();
	}

	/* The reply's entry, (re)written on every request so the MACs and interface stay current. */
	if (bpf_skb_load_bytes(ctx, 0, macs, sizeof(macs)) < 0)
		return np_drop(ctx, DROP_INVALID);
	rev.last_seen = nf.last_seen;
	rev.to_addr = client[0];
	rev.to_port = client_port;
	rev.rev_nat_index = rev_nat;
	rev.ifindex = ctx->ifindex;
	__builtin_memcpy(rev.client_mac, &macs[6], 6);
	__builtin_memcpy(rev.if_mac, macs, 6);
	__builtin_memset(&rk, 0, sizeof(rk));
	rk.saddr = nf.to_addr;
	rk.sport = nf.to_port;
	rk.nexthdr = p->t.nexthdr;
	rk.dir = NAT_DIR_REV;

	ek.ip6[0] = nf.to_addr;
	ek.family = FAMILY_IPV4;
	ep_ifindex = bpf_map_lookup_elem(&cilium_lxc_ip, &ek);
	if (ep_ifindex)
		ep = bpf_map_lookup_elem(&cilium_lxc, ep_ifindex);
	if (!ep && (svc->flags & SVC_FLAG_HOSTPORT))
		return np_drop(ctx, DROP_INVALID); /* a hostPort's backend is on this node */

	if (ep) {
		nf.flags = 0; /* a local backend sees the client (Cilium: no SNAT toward local backends) */
		rk.daddr = client[0];
		rk.dport = client_port;
		bpf_map_update_elem(&cilium_snat_v4_external, &rk, &rev, BPF_ANY);
	} else {
		rev.flags = NAT_F_SNAT;
		rk.daddr = cfg->snat_addr;
		if ((nf.flags & NAT_F_SNAT) && nf.nat_addr == cfg->snat_addr) {
			rk.dport = nf.nat_port;
			bpf_map_update_elem(&cilium_snat_v4_external, &rk, &rev, BPF_ANY);
		} else {
			if (np_snat_claim(&rk, &rev, cfg, np_hash4(&p->t, 0), &nf.nat_port) < 0)
				return np_drop(ctx, DROP_NO_SERVICE);
			nf.flags = NAT_F_SNAT;
			nf.nat_addr = cfg->snat_addr;
		}
	}
	if (!fwd || fwd->backend_id != nf.backend_id || fwd->flags != nf.flags || fwd->nat_port != nf.nat_port)
		bpf_map_update_elem(&cilium_snat_v4_external, &fk, &nf, BPF_ANY);

	backend[0] = nf.to_addr;
	if (lb_rewrite(ctx, p, 1, backend, nf.to_port) < 0)
		return np_drop(ctx, DROP_INVALID);
	if (nf.flags & NAT_F_SNAT) {
		snat_addr[0] = nf.nat_addr;
		if (lb_rewrite(ctx, p, 0, snat_addr, nf.nat_port) < 0)
			return np_drop(ctx, DROP_INVALID);
	}
	metrics_update(REASON_FORWARDED, DIR_INGRESS, ctx->len);
	if (!ep || !ep_ifindex)
		return np_forward_routed(ctx, p);
	/* Out of the pod's host veth: cil_to_container applies the pod's ingress policy. */
	if (np_l2_rewrite(ctx, ep->mac, ep->node_mac) < 0)
		return np_drop(ctx, DROP_INVALID);
	return bpf_redirect(*ep_ifindex, 0);
}

SEC("tc")
int cil_from_netdev(struct __sk_buff *ctx)
{
	struct pkt p = {};
	int ret;

	/* What we cannot parse (ARP, fragments, other protocols) is the host stack's to judge. */
	if (parse_packet(ctx, &p) != PARSE_OK)
		return TC_ACT_OK;
	ret = nodeport_reply4(ctx, &p, 1);
	if (ret != NP_PASS)
		return ret;
	ret = nodeport_lb4(ctx, &p);
	if (ret != NP_PASS)
		return ret;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
