/* SPDX-License-Identifier: Apache-2.0 */
/* Endpoint map: which pod sits behind the veth a program runs on, and how its policy is
 * enforced. Enforcement comes from this map, so a policy change never recompiles a program.
 * Every map is pinned by name; the loader sets the pin root (/sys/fs/bpf/cilium-ts by
 * default) so maps outlive the agent. */
#pragma once
#include "common.h"

#define ENDPOINT_MAP_SIZE 65536

/* endpoint_info.flags */
#define EP_F_ENFORCE_INGRESS 0x01
#define EP_F_ENFORCE_EGRESS 0x02

/* endpoint_info.mode: Cilium's policy enforcement modes. DEFAULT follows the flags (the
 * agent sets them when some policy selects the endpoint), ALWAYS enforces both directions,
 * NEVER enforces none. */
#define EP_MODE_DEFAULT 0
#define EP_MODE_ALWAYS 1
#define EP_MODE_NEVER 2

/* key: __u32 ifindex of the endpoint's host-side veth */
struct endpoint_info {
	__u32 ep_id;
	__u32 sec_identity;
	__u8 flags;
	__u8 mode;
	__u8 mac[6];      /* the pod's interface (destination MAC of redirected packets) */
	__u8 node_mac[6]; /* the host-side veth (their source MAC) */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct endpoint_info);
	__uint(max_entries, ENDPOINT_MAP_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lxc SEC(".maps");

/* Local endpoints by address, for the same-node fast path: value is the host-side veth's
 * ifindex, the key of cilium_lxc. (Cilium's cilium_lxc is keyed this way.) */
struct endpoint_key {
	__u32 ip6[4]; /* IPv4 in ip6[0]; network byte order */
	__u8 family;  /* FAMILY_IPV4 / FAMILY_IPV6 */
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct endpoint_key);
	__type(value, __u32);
	__uint(max_entries, ENDPOINT_MAP_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lxc_ip SEC(".maps");

static __always_inline int ep_enforces(const struct endpoint_info *ep, __u8 dir)
{
	if (ep->mode == EP_MODE_ALWAYS)
		return 1;
	if (ep->mode == EP_MODE_NEVER)
		return 0;
	if (dir == DIR_INGRESS)
		return (ep->flags & EP_F_ENFORCE_INGRESS) != 0;
	return (ep->flags & EP_F_ENFORCE_EGRESS) != 0;
}
