/* SPDX-License-Identifier: Apache-2.0 */
/* ipcache: longest-prefix match from an address to the security identity behind it.
 * Key layout follows Cilium's ipcache_key: the first 32 bits after prefixlen (pad1, pad2,
 * family) are always matched, so prefixlen = 32 + address prefix length. */
#pragma once
#include "common.h"

#define IPCACHE_MAP_SIZE 512000
#define IPCACHE_STATIC_PREFIX 32

struct ipcache_key {
	__u32 prefixlen;
	__u16 pad1;
	__u8 pad2;
	__u8 family;
	__u32 ip6[4]; /* IPv4 uses ip6[0]; network byte order */
};

/* ipcache value flags */
#define IPCACHE_F_LOCAL_ENDPOINT 0x01

struct remote_endpoint_info {
	__u32 sec_identity;
	__u32 tunnel_endpoint; /* network byte order; 0 = none */
	__u8 flags;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct ipcache_key);
	__type(value, struct remote_endpoint_info);
	__uint(max_entries, IPCACHE_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_ipcache SEC(".maps");

/* Identity of addr, or WORLD when the ipcache does not know it. */
static __always_inline __u32 ipcache_identity(__u8 family, const __u32 *addr)
{
	struct ipcache_key key = {};
	struct remote_endpoint_info *info;

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
	info = bpf_map_lookup_elem(&cilium_ipcache, &key);
	if (!info)
		return IDENTITY_WORLD;
	return info->sec_identity;
}
