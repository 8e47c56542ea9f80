/* SPDX-License-Identifier: Apache-2.0 */
/* Socket-LB: cgroup sock_addr programs that translate a service frontend to a backend when a
 * socket connects (TCP and UDP) or sends a datagram to an address (unconnected UDP), and give the
 * frontend back when the application asks who its peer is (getpeername) or where a datagram came
 * from (recvmsg). Attached to a cgroup of cilium-ts's own (the lab's), never the machine's root,
 * so only processes placed there are translated; their packets leave already addressed to a
 * backend and bpf_lxc's per-packet path has nothing left to do for them.
 * Semantics carried over from Cilium's bpf_sock.c:
 *   - the same service maps as bpf_lxc (lib/lb.h); a socket is an internal client, so a frontend
 *     with two scopes answers from its internal one;
 *   - externalIPs and hostPorts are translated only when the address is this host's (ipcache
 *     identity host; a hostPort also on loopback), so a Service cannot capture a foreign address;
 *   - TCP picks a random slot, UDP the slot of its socket cookie (one unconnected socket keeps
 *     one backend); session affinity is keyed by the client's network namespace cookie;
 *   - {socket cookie, backend} -> frontend in cilium_lb{4,6}_reverse_sk for the reverse hooks,
 *     dropped when the service it names is gone or renumbered;
 *   - an IPv4-mapped IPv6 address (::ffff:a.b.c.d) on an IPv6 socket is an IPv4 frontend;
 *   - hostNamespaceOnly: sockets outside the host network namespace are left to bpf_lxc.
 * A frontend with no backend fails connect() and sendmsg() at once with ECONNREFUSED, as the
 * per-packet path's ICMP port unreachable does (Cilium's socket-LB answers EHOSTUNREACH). */
#include "lib/common.h"
#include "lib/lb.h"
#include "lib/ipcache.h"
#include "lib/sock.h"

#define SYS_REJECT 0
#define SYS_PROCEED 1
#define SOCK_ERR_NO_BACKEND 111 /* ECONNREFUSED */

/* sock_xlate_fwd results */
#define XLATE_DONE 0
#define XLATE_SKIP 1       /* not a frontend, or not ours to translate: the address stays */
#define XLATE_NO_BACKEND 2 /* a frontend without a backend: the call fails */

struct sock_addr_view {
	__u32 addr[4]; /* network byte order; IPv4 in addr[0] */
	__u16 port;    /* network byte order */
	__u8 family;   /* FAMILY_IPV4 / FAMILY_IPV6 */
	__u8 proto;
};

static __always_inline int is_v4_loopback(__u32 addr)
{
	return (addr & bpf_htonl(0xff000000)) == bpf_htonl(0x7f000000);
}

static __always_inline int is_v6_loopback(const __u32 *addr)
{
	return !addr[0] && !addr[1] && !addr[2] && addr[3] == bpf_htonl(1);
}

static __always_inline int is_v4_mapped(const __u32 *addr)
{
	return !addr[0] && !addr[1] && addr[2] == bpf_htonl(0x0000ffff);
}

/* The user port field is a __u32 holding a __be16: read whole, then narrowed. */
static __always_inline __u16 ctx_port(const struct bpf_sock_addr *ctx)
{
	volatile __u32 port = ctx->user_port;

	return (__u16)port;
}

static __always_inline void ctx_read6(const struct bpf_sock_addr *ctx, __u32 *addr)
{
	addr[0] = ctx->user_ip6[0];
	addr[1] = ctx->user_ip6[1];
	addr[2] = ctx->user_ip6[2];
	addr[3] = ctx->user_ip6[3];
}

static __always_inline void ctx_write6(struct bpf_sock_addr *ctx, const __u32 *addr)
{
	ctx->user_ip6[0] = addr[0];
	ctx->user_ip6[1] = addr[1];
	ctx->user_ip6[2] = addr[2];
	ctx->user_ip6[3] = addr[3];
}

/* 1 when socket-LB must leave this socket alone: hostNamespaceOnly and a pod's namespace. */
static __always_inline int sock_outside_host_ns(struct bpf_sock_addr *ctx)
{
	__u32 zero = 0;
	struct sock_lb_config *cfg = bpf_map_lookup_elem(&cilium_sock_config, &zero);
	__u64 host;

	if (!cfg || !(cfg->flags & SOCK_LB_HOST_NS_ONLY))
		return 0;
	host = cfg->host_netns_cookie ? cfg->host_netns_cookie : bpf_get_netns_cookie(0);
	return bpf_get_netns_cookie(ctx) != host;
}

/* The frontend's slot 0 (internal scope when it has two), or NULL. */
static __always_inline struct lb4_service *sock_lookup_service(union lb_key *k, const struct sock_addr_view *v)
{
	return lb_lookup_frontend(k, v->family, v->addr, v->port, v->proto);
}

/* externalIPs and hostPorts capture only this host's own addresses (and loopback for hostPort). */
static __always_inline int sock_skip_frontend(const struct lb4_service *svc, const struct sock_addr_view *v)
{
	int loopback = v->family == FAMILY_IPV4 ? is_v4_loopback(v->addr[0]) : is_v6_loopback(v->addr);

	if ((svc->flags & SVC_FLAG_HOSTPORT) && loopback)
		return 0;
	if (svc->flags & (SVC_FLAG_EXTERNAL_IP | SVC_FLAG_HOSTPORT))
		return ipcache_identity(v->family, v->addr) != IDENTITY_HOST;
	return 0;
}

/* The backend's address and port into *out, 0; -1 when the id has no backend. */
static __always_inline int sock_backend(__u8 family, __u32 id, struct sock_addr_view *out)
{
	if (family == FAMILY_IPV4) {
		struct lb4_backend *be = bpf_map_lookup_elem(&cilium_lb4_backends_v3, &id);

		if (!be)
			return -1;
		out->addr[0] = be->address;
		out->port = be->port;
		return 0;
	} else {
		struct lb6_backend *be = bpf_map_lookup_elem(&cilium_lb6_backends_v3, &id);

		if (!be)
			return -1;
		__builtin_memcpy(out->addr, be->address, 16);
		out->port = be->port;
		return 0;
	}
}

/* Socket-LB's affinity client is the network namespace, not an address (netns_cookie = 1). */
static __always_inline void sock_affinity_key6(__u64 netns, __u16 rev_nat, struct lb6_affinity_key *k)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->client_id.client_cookie = netns;
	k->rev_nat_id = rev_nat;
	k->netns_cookie = 1;
}

/* The namespace's affinity backend while its timeout runs and it still serves the service, else 0. */
static __always_inline __u32 sock_affinity_backend(__u8 family, __u64 netns, __u16 rev_nat, __u32 timeout)
{
	struct lb_affinity_val *v;
	struct lb6_affinity_key k6;
	struct lb4_affinity_key k4 = {};

	if (family == FAMILY_IPV4) {
		k4.client_id.client_cookie = netns;
		k4.rev_nat_id = rev_nat;
		k4.netns_cookie = 1;
		v = bpf_map_lookup_elem(&cilium_lb4_affinity, &k4);
	} else {
		sock_affinity_key6(netns, rev_nat, &k6);
		v = bpf_map_lookup_elem(&cilium_lb6_affinity, &k6);
	}
	return lb_affinity_live(v, rev_nat, timeout);
}

static __always_inline void sock_affinity_update(__u8 family, __u64 netns, __u16 rev_nat, __u32 backend_id)
{
	struct lb_affinity_val v = { .last_used = bpf_ktime_get_ns() / NSEC_PER_SEC, .backend_id = backend_id };

	if (family == FAMILY_IPV4) {
		struct lb4_affinity_key k4 = {};

		k4.client_id.client_cookie = netns;
		k4.rev_nat_id = rev_nat;
		k4.netns_cookie = 1;
		bpf_map_update_elem(&cilium_lb4_affinity, &k4, &v, BPF_ANY);
	} else {
		struct lb6_affinity_key k6;

		sock_affinity_key6(netns, rev_nat, &k6);
		bpf_map_update_elem(&cilium_lb6_affinity, &k6, &v, BPF_ANY);
	}
}

/* Remembers {socket, backend} -> frontend for recvmsg and getpeername. */
static __always_inline int sock_update_revnat(struct bpf_sock_addr *ctx, const struct sock_addr_view *fe,
					      const struct sock_addr_view *be, __u16 rev_nat)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);

	if (fe->family == FAMILY_IPV4) {
		struct lb4_reverse_sk_key k = { .cookie = cookie, .address = be->addr[0], .port = be->port };
		struct lb4_reverse_sk v = { .address = fe->addr[0], .port = fe->port, .rev_nat_index = rev_nat };

		return bpf_map_update_elem(&cilium_lb4_reverse_sk, &k, &v, BPF_ANY);
	} else {
		struct lb6_reverse_sk_key k = { .cookie = cookie, .port = be->port };
		struct lb6_reverse_sk v = { .port = fe->port, .rev_nat_index = rev_nat };

		__builtin_memcpy(k.address, be->addr, 16);
		__builtin_memcpy(v.address, fe->addr, 16);
		return bpf_map_update_elem(&cilium_lb6_reverse_sk, &k, &v, BPF_ANY);
	}
}

/* Translates *v (a destination) from a frontend to a backend in place. XLATE_*. */
static __always_inline int sock_xlate_fwd(struct bpf_sock_addr *ctx, struct sock_addr_view *v)
{
	struct sock_addr_view be = { .family = v->family, .proto = v->proto };
	struct lb4_service *svc, *slot;
	union lb_key key;
	__u64 netns = 0, selector;
	__u32 id = 0, timeout;
	__u16 rev_nat, count;
	__u8 affinity;

	if (v->proto != IPPROTO_TCP && v->proto != IPPROTO_UDP)
		return XLATE_SKIP;
	if (sock_outside_host_ns(ctx))
		return XLATE_SKIP;
	svc = sock_lookup_service(&key, v);
	if (!svc || sock_skip_frontend(svc, v))
		return XLATE_SKIP;
	rev_nat = svc->rev_nat_index;
	count = svc->count;
	affinity = svc->flags & SVC_FLAG_AFFINITY;
	timeout = svc->backend_id;
	if (count == 0)
		return XLATE_NO_BACKEND;

	if (affinity) {
		netns = bpf_get_netns_cookie(ctx);
		id = sock_affinity_backend(v->family, netns, rev_nat, timeout);
	}
	if (!id || sock_backend(v->family, id, &be) < 0) {
		selector = v->proto == IPPROTO_TCP ? bpf_get_prandom_u32() : bpf_get_socket_cookie(ctx);
		slot = lb_service_slot(&key, v->family, (__u16)(selector % count) + 1);
		if (!slot)
			return XLATE_NO_BACKEND;
		id = slot->backend_id;
		if (!id || sock_backend(v->family, id, &be) < 0)
			return XLATE_NO_BACKEND;
	}
	if (affinity)
		sock_affinity_update(v->family, netns, rev_nat, id);
	/* Without its reverse entry, getpeername and recvmsg would show the backend: translate not at
	 * all then, and leave the packet to the per-packet path. */
	if (sock_update_revnat(ctx, v, &be, rev_nat) < 0)
		return XLATE_SKIP;
	__builtin_memcpy(v->addr, be.addr, 16);
	v->port = be.port;
	return XLATE_DONE;
}

/* Translates *v (a peer) from a backend this socket was sent to back to its frontend. 0 when done. */
static __always_inline int sock_xlate_rev(struct bpf_sock_addr *ctx, struct sock_addr_view *v)
{
	struct sock_addr_view fe = { .family = v->family, .proto = v->proto };
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct lb4_service *svc;
	union lb_key key;
	__u16 rev_nat;

	if (v->family == FAMILY_IPV4) {
		struct lb4_reverse_sk_key k = { .cookie = cookie, .address = v->addr[0], .port = v->port };
		struct lb4_reverse_sk *r = bpf_map_lookup_elem(&cilium_lb4_reverse_sk, &k);

		if (!r)
			return -1;
		fe.addr[0] = r->address;
		fe.port = r->port;
		rev_nat = r->rev_nat_index;
		svc = sock_lookup_service(&key, &fe);
		if (!svc || svc->rev_nat_index != rev_nat) {
			bpf_map_delete_elem(&cilium_lb4_reverse_sk, &k);
			return -1;
		}
	} else {
		struct lb6_reverse_sk_key k = { .cookie = cookie, .port = v->port };
		struct lb6_reverse_sk *r;

		__builtin_memcpy(k.address, v->addr, 16);
		r = bpf_map_lookup_elem(&cilium_lb6_reverse_sk, &k);
		if (!r)
			return -1;
		__builtin_memcpy(fe.addr, r->address, 16);
		fe.port = r->port;
		rev_nat = r->rev_nat_index;
		svc = sock_lookup_service(&key, &fe);
		if (!svc || svc->rev_nat_index != rev_nat) {
			bpf_map_delete_elem(&cilium_lb6_reverse_sk, &k);
			return -1;
		}
	}
	__builtin_memcpy(v->addr, fe.addr, 16);
	v->port = fe.port;
	return 0;
}

static __always_inline int sock_reject(void)
{
	bpf_set_retval(-SOCK_ERR_NO_BACKEND);
	return SYS_REJECT;
}

static __always_inline int sock4_fwd(struct bpf_sock_addr *ctx)
{
	struct sock_addr_view v = { .family = FAMILY_IPV4, .proto = ctx->protocol };
	int ret;

	v.addr[0] = ctx->user_ip4;
	v.port = ctx_port(ctx);
	ret = sock_xlate_fwd(ctx, &v);
	if (ret == XLATE_NO_BACKEND)
		return sock_reject();
	if (ret == XLATE_DONE) {
		ctx->user_ip4 = v.addr[0];
		ctx->user_port = v.port;
	}
	return SYS_PROCEED;
}

static __always_inline void sock4_rev(struct bpf_sock_addr *ctx)
{
	struct sock_addr_view v = { .family = FAMILY_IPV4, .proto = ctx->protocol };

	v.addr[0] = ctx->user_ip4;
	v.port = ctx_port(ctx);
	if (sock_xlate_rev(ctx, &v) == 0) {
		ctx->user_ip4 = v.addr[0];
		ctx->user_port = v.port;
	}
}

/* An IPv6 socket's address: a v4-mapped one is looked up as IPv4 and written back mapped. */
static __always_inline int sock6_fwd(struct bpf_sock_addr *ctx)
{
	struct sock_addr_view v = { .family = FAMILY_IPV6, .proto = ctx->protocol };
	__u32 a6[4];
	int mapped, ret;

	ctx_read6(ctx, a6);
	mapped = is_v4_mapped(a6);
	if (mapped) {
		v.family = FAMILY_IPV4;
		v.addr[0] = a6[3];
	} else {
		__builtin_memcpy(v.addr, a6, 16);
	}
	v.port = ctx_port(ctx);
	ret = sock_xlate_fwd(ctx, &v);
	if (ret == XLATE_NO_BACKEND)
		return sock_reject();
	if (ret != XLATE_DONE)
		return SYS_PROCEED;
	if (mapped)
		a6[3] = v.addr[0];
	else
		__builtin_memcpy(a6, v.addr, 16);
	ctx_write6(ctx, a6);
	ctx->user_port = v.port;
	return SYS_PROCEED;
}

static __always_inline void sock6_rev(struct bpf_sock_addr *ctx)
{
	struct sock_addr_view v = { .family = FAMILY_IPV6, .proto = ctx->protocol };
	__u32 a6[4];
	int mapped;

	ctx_read6(ctx, a6);
	mapped = is_v4_mapped(a6);
	if (mapped) {
		v.family = FAMILY_IPV4;
		v.addr[0] = a6[3];
	} else {
		__builtin_memcpy(v.addr, a6, 16);
	}
	v.port = ctx_port(ctx);
	if (sock_xlate_rev(ctx, &v) != 0)
		return;
	if (mapped)
		a6[3] = v.addr[0];
	else
		__builtin_memcpy(a6, v.addr, 16);
	ctx_write6(ctx, a6);
	ctx->user_port = v.port;
}

SEC("cgroup/connect4")
int cil_sock4_connect(struct bpf_sock_addr *ctx)
{
	return sock4_fwd(ctx);
}

SEC("cgroup/sendmsg4")
int cil_sock4_sendmsg(struct bpf_sock_addr *ctx)
{
	return sock4_fwd(ctx);
}

SEC("cgroup/recvmsg4")
int cil_sock4_recvmsg(struct bpf_sock_addr *ctx)
{
	sock4_rev(ctx);
	return SYS_PROCEED;
}

SEC("cgroup/getpeername4")
int cil_sock4_getpeername(struct bpf_sock_addr *ctx)
{
	sock4_rev(ctx);
	return SYS_PROCEED;
}

SEC("cgroup/connect6")
int cil_sock6_connect(struct bpf_sock_addr *ctx)
{
	return sock6_fwd(ctx);
}

SEC("cgroup/sendmsg6")
int cil_sock6_sendmsg(struct bpf_sock_addr *ctx)
{
	return sock6_fwd(ctx);
}

SEC("cgroup/recvmsg6")
int cil_sock6_recvmsg(struct bpf_sock_addr *ctx)
{
	sock6_rev(ctx);
	return SYS_PROCEED;
}

SEC("cgroup/getpeername6")
int cil_sock6_getpeername(struct bpf_sock_addr *ctx)
{
	sock6_rev(ctx);
	return SYS_PROCEED;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
