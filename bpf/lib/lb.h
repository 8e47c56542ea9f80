/* SPDX-License-Identifier: Apache-2.0 */
/* Service load-balancing maps, in Cilium's shapes and under Cilium's names (bpf/lib/lb.h,
 * pkg/maps/lbmap), for IPv4 and IPv6:
 *   cilium_lb{4,6}_services_v2   frontend {address, dport, backend_slot, proto, scope} -> service.
 *                                Slot 0 is the frontend itself: count = backend slots, rev-NAT id,
 *                                flags. Slots 1..count hold one backend id each.
 *   cilium_lb{4,6}_backends_v3   backend id -> {address, port, proto, state, cluster, zone}
 *   cilium_lb{4,6}_reverse_nat   rev-NAT id (= service id) -> frontend {address, port}
 *   cilium_lb{4,6}_affinity      LRU: {client, rev-NAT id} -> {last used, backend id}
 *   cilium_lb_affinity_match     {backend id, rev-NAT id} -> 1 while the backend serves the service
 *   cilium_lb{4,6}_maglev        rev-NAT id -> inner array of M backend ids (Maglev table)
 *   cilium_lb{4,6}_source_range  LPM {rev-NAT id, client prefix} -> 1 (loadBalancerSourceRanges)
 * All are written by the agent (src/datapath/lb.ts) and pinned like every other map. The lookups that
 * bpf_lxc, bpf_host and bpf_sock share (a frontend's slots, a live affinity entry) follow the maps. */
#pragma once
#include "common.h"

#define LB_SERVICE_MAP_SIZE 65536
#define LB_BACKEND_MAP_SIZE 65536
#define LB_REV_NAT_MAP_SIZE 65536
#define LB_AFFINITY_MAP_SIZE 65536
#define LB_MAGLEV_OUTER_SIZE 65536
#define LB_SOURCE_RANGE_MAP_SIZE 65536
/* Default Maglev table size M (a prime from Cilium's allowed list). The inner maps the agent
 * creates may have any of the allowed sizes: BPF_F_INNER_MAP lifts the size check. */
#define LB_MAGLEV_LUT_SIZE 16381

/* lb{4,6}_key.scope: which backend set a lookup wants (externalTrafficPolicy /
 * internalTrafficPolicy=Local give a frontend two). */
#define LB_LOOKUP_SCOPE_EXT 0
#define LB_LOOKUP_SCOPE_INT 1

/* lb{4,6}_service.flags (Cilium's numbering) */
#define SVC_FLAG_EXTERNAL_IP 0x01
#define SVC_FLAG_NODEPORT 0x02
#define SVC_FLAG_EXT_LOCAL_SCOPE 0x04
#define SVC_FLAG_HOSTPORT 0x08
#define SVC_FLAG_AFFINITY 0x10
#define SVC_FLAG_LOADBALANCER 0x20
#define SVC_FLAG_ROUTABLE 0x40
#define SVC_FLAG_SOURCE_RANGE 0x80
/* lb{4,6}_service.flags2 */
#define SVC_FLAG_LOCALREDIRECT 0x01
#define SVC_FLAG_INT_LOCAL_SCOPE 0x10
#define SVC_FLAG_TWO_SCOPES 0x20

/* lb{4,6}_backend.flags: the backend's state (Cilium's BE_STATE_*) */
#define BE_STATE_ACTIVE 0
#define BE_STATE_TERMINATING 1
#define BE_STATE_QUARANTINED 2
#define BE_STATE_MAINTENANCE 3

struct lb4_key {
	__u32 address;      /* network byte order */
	__u16 dport;        /* network byte order */
	__u16 backend_slot; /* 0 = the frontend itself */
	__u8 proto;         /* IPPROTO_TCP / UDP / SCTP */
	__u8 scope;         /* LB_LOOKUP_SCOPE_* */
	__u8 pad[2];
};

struct lb6_key {
	__u32 address[4];
	__u16 dport;
	__u16 backend_slot;
	__u8 proto;
	__u8 scope;
	__u8 pad[2];
};

/* Slot 0: count, rev_nat_index, flags, and the affinity timeout (seconds) in backend_id.
 * Slots 1..count: backend_id. lb6_service is the same struct under its own name. */
struct lb4_service {
	__u32 backend_id; /* or, in slot 0, the affinity timeout in seconds */
	__u16 count;
	__u16 rev_nat_index;
	__u8 flags;
	__u8 flags2;
	__u8 pad[2];
};

struct lb6_service {
	__u32 backend_id;
	__u16 count;
	__u16 rev_nat_index;
	__u8 flags;
	__u8 flags2;
	__u8 pad[2];
};

struct lb4_backend {
	__u32 address; /* network byte order */
	__u16 port;    /* network byte order */
	__u8 proto;
	__u8 flags;    /* BE_STATE_* */
	__u16 cluster_id;
	__u8 zone;
	__u8 pad;
};

struct lb6_backend {
	__u32 address[4];
	__u16 port;
	__u8 proto;
	__u8 flags;
	__u16 cluster_id;
	__u8 zone;
	__u8 pad;
};

struct lb4_reverse_nat {
	__u32 address;
	__u16 port;
	__u16 pad;
};

struct lb6_reverse_nat {
	__u32 address[4];
	__u16 port;
	__u16 pad;
};

/* Cilium's client_id is a union of the client address and a socket cookie (socket-LB). */
union lb4_affinity_client_id {
	__u32 client_ip;
	__u64 client_cookie;
};

struct lb4_affinity_key {
	union lb4_affinity_client_id client_id;
	__u16 rev_nat_id;
	__u8 netns_cookie; /* 1: client_id is a cookie */
	__u8 pad1;
	__u32 pad2;
};

union lb6_affinity_client_id {
	__u32 client_ip[4];
	__u64 client_cookie;
};

struct lb6_affinity_key {
	union lb6_affinity_client_id client_id;
	__u16 rev_nat_id;
	__u8 netns_cookie;
	__u8 pad1;
	__u32 pad2;
};

struct lb_affinity_val {
	__u64 last_used; /* bpf_ktime_get_ns / 1e9 (seconds) */
	__u32 backend_id;
	__u32 pad;
};

struct lb_affinity_match {
	__u32 backend_id;
	__u16 rev_nat_id;
	__u16 pad;
};

/* LPM: the 32 bits of rev_nat_id + pad are always matched, so prefixlen = 32 + prefix. */
struct lb4_src_range_key {
	__u32 prefixlen;
	__u16 rev_nat_id;
	__u16 pad;
	__u32 addr;
};

struct lb6_src_range_key {
	__u32 prefixlen;
	__u16 rev_nat_id;
	__u16 pad;
	__u32 addr[4];
};
#define LB_SRC_RANGE_STATIC_PREFIX 32

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb4_key);
	__type(value, struct lb4_service);
	__uint(max_entries, LB_SERVICE_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb4_services_v2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb6_key);
	__type(value, struct lb6_service);
	__uint(max_entries, LB_SERVICE_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb6_services_v2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct lb4_backend);
	__uint(max_entries, LB_BACKEND_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb4_backends_v3 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct lb6_backend);
	__uint(max_entries, LB_BACKEND_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb6_backends_v3 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u16);
	__type(value, struct lb4_reverse_nat);
	__uint(max_entries, LB_REV_NAT_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb4_reverse_nat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u16);
	__type(value, struct lb6_reverse_nat);
	__uint(max_entries, LB_REV_NAT_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb6_reverse_nat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct lb4_affinity_key);
	__type(value, struct lb_affinity_val);
	__uint(max_entries, LB_AFFINITY_MAP_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb4_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct lb6_affinity_key);
	__type(value, struct lb_affinity_val);
	__uint(max_entries, LB_AFFINITY_MAP_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb6_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb_affinity_match);
	__type(value, __u8);
	__uint(max_entries, LB_AFFINITY_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb_affinity_match SEC(".maps");

struct lb_maglev_inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32)); /* backend id */
	__uint(max_entries, LB_MAGLEV_LUT_SIZE);
	__uint(map_flags, BPF_F_INNER_MAP);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__type(key, __u16); /* rev-NAT id */
	__uint(max_entries, LB_MAGLEV_OUTER_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct lb_maglev_inner_map);
} cilium_lb4_maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__type(key, __u16);
	__uint(max_entries, LB_MAGLEV_OUTER_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct lb_maglev_inner_map);
} cilium_lb6_maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct lb4_src_range_key);
	__type(value, __u8);
	__uint(max_entries, LB_SOURCE_RANGE_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb4_source_range SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct lb6_src_range_key);
	__type(value, __u8);
	__uint(max_entries, LB_SOURCE_RANGE_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb6_source_range SEC(".maps");

/* The backend id Maglev picks for a flow hash: the table has lut_size entries (the agent's M,
 * which north-south programs get from their configuration). 0 when there is no table. */
static __always_inline __u32 lb_maglev_backend(void *outer, __u16 rev_nat_id, __u32 hash, __u32 lut_size)
{
	void *inner;
	__u32 slot, *id;

	if (!lut_size)
		return 0;
	inner = bpf_map_lookup_elem(outer, &rev_nat_id);
	if (!inner)
		return 0;
	slot = hash % lut_size;
	id = bpf_map_lookup_elem(inner, &slot);
	return id ? *id : 0;
}

#define NSEC_PER_SEC 1000000000ULL

union lb_key {
	struct lb4_key k4;
	struct lb6_key k6;
};

/* lb4_service and lb6_service have one layout: either is read through this. */
static __always_inline struct lb4_service *lb_service_slot(union lb_key *k, __u8 family, __u16 slot)
{
	if (family == FAMILY_IPV4) {
		k->k4.backend_slot = slot;
		return bpf_map_lookup_elem(&cilium_lb4_services_v2, &k->k4);
	}
	k->k6.backend_slot = slot;
	return bpf_map_lookup_elem(&cilium_lb6_services_v2, &k->k6);
}

/* Slot 0 of the frontend addr:port/proto (network byte order), or NULL. A pod, or a socket in one,
 * is an internal client: a frontend with two backend sets (a traffic policy of Local) answers it
 * from its internal scope. */
static __always_inline struct lb4_service *lb_lookup_frontend(union lb_key *k, __u8 family, const __u32 *addr,
							      __u16 port, __u8 proto)
{
	struct lb4_service *svc;

	__builtin_memset(k, 0, sizeof(*k));
	if (family == FAMILY_IPV4) {
		k->k4.address = addr[0];
		k->k4.dport = port;
		k->k4.proto = proto;
		k->k4.scope = LB_LOOKUP_SCOPE_EXT;
	} else {
		__builtin_memcpy(k->k6.address, addr, 16);
		k->k6.dport = port;
		k->k6.proto = proto;
		k->k6.scope = LB_LOOKUP_SCOPE_EXT;
	}
	svc = lb_service_slot(k, family, 0);
	if (!svc || !(svc->flags2 & SVC_FLAG_TWO_SCOPES))
		return svc;
	if (family == FAMILY_IPV4)
		k->k4.scope = LB_LOOKUP_SCOPE_INT;
	else
		k->k6.scope = LB_LOOKUP_SCOPE_INT;
	return lb_service_slot(k, family, 0);
}

/* The backend of an affinity entry (v may be NULL) while its timeout runs and the backend still
 * serves the service, the entry then used anew; else 0. */
static __always_inline __u32 lb_affinity_live(struct lb_affinity_val *v, __u16 rev_nat, __u32 timeout)
{
	struct lb_affinity_match m = {};
	__u64 now = bpf_ktime_get_ns() / NSEC_PER_SEC;

	if (!v || v->last_used + timeout < now)
		return 0;
	m.backend_id = v->backend_id;
	m.rev_nat_id = rev_nat;
	if (!bpf_map_lookup_elem(&cilium_lb_affinity_match, &m))
		return 0;
	v->last_used = now;
	return v->backend_id;
}
