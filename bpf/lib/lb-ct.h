/* SPDX-License-Identifier: Apache-2.0 */
/* Service conntrack: which backend a translated flow went to, and how to translate its
 * replies back (Cilium keeps the same facts in CT_SERVICE entries of its CT map). Two entries
 * per flow, keyed by struct ct_key:
 *   dir CT_SERVICE      the client's tuple to the frontend -> the chosen backend (address, port
 *                       and id) and rev-NAT id. The backend's address is kept here, so an
 *                       established flow finishes on its backend after the backend left the
 *                       service; only new flows are load-balanced.
 *   dir CT_SERVICE_REV  the reply's tuple (backend -> client) -> rev-NAT id: the reply's source
 *                       becomes the frontend of cilium_lb{4,6}_reverse_nat again.
 * Entries age out through LRU eviction, like cilium_ct's. */
#pragma once
#include "common.h"
#include "conntrack.h"

#define LB_CT_MAP_SIZE 262144

/* ct_key.dir of service entries (cilium_ct uses CT_INGRESS / CT_EGRESS) */
#define CT_SERVICE 2
#define CT_SERVICE_REV 3

struct lb_ct_entry {
	__u64 last_seen;          /* bpf_ktime_get_ns */
	__u32 backend_addr[4];    /* CT_SERVICE: network byte order, IPv4 in [0] */
	__u32 backend_id;
	__u16 backend_port;       /* CT_SERVICE: network byte order */
	__u16 rev_nat_index;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ct_key);
	__type(value, struct lb_ct_entry);
	__uint(max_entries, LB_CT_MAP_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb_ct SEC(".maps");
