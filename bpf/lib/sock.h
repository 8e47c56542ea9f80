/* SPDX-License-Identifier: Apache-2.0 */
/* Socket-LB (Cilium's bpf_sock): services translated when a socket connects or sends, so the
 * packets leave already addressed to a backend and no per-packet translation is needed.
 *   cilium_lb{4,6}_reverse_sk  LRU: {socket cookie, backend address, backend port} -> the frontend
 *                              {address, port, rev-NAT id}, written at connect/sendmsg so that
 *                              recvmsg (UDP replies) and getpeername report the frontend again.
 *                              Pinned and shared by name, like the service maps.
 *   cilium_sock_config         one entry per loaded object (never pinned: every attachment carries
 *                              its own): the host network namespace's cookie and the flags
 *                              (SOCK_LB_HOST_NS_ONLY = Cilium's socketLB.hostNamespaceOnly). */
#pragma once
#include "common.h"
#include "lb.h"

#define LB_REVERSE_SK_MAP_SIZE 262144

/* sock_lb_config.flags */
#define SOCK_LB_HOST_NS_ONLY 0x01

struct lb4_reverse_sk_key {
	__u64 cookie;      /* bpf_get_socket_cookie */
	__u32 address;     /* the backend, network byte order */
	__u16 port;        /* network byte order */
	__u16 pad;
};

struct lb4_reverse_sk {
	__u32 address;     /* the frontend */
	__u16 port;
	__u16 rev_nat_index;
};

struct lb6_reverse_sk_key {
	__u64 cookie;
	__u32 address[4];
	__u16 port;
	__u16 pad;
	__u32 pad2;
};

struct lb6_reverse_sk {
	__u32 address[4];
	__u16 port;
	__u16 rev_nat_index;
};

struct sock_lb_config {
	__u64 host_netns_cookie; /* 0: the initial network namespace's */
	__u32 flags;             /* SOCK_LB_* */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct lb4_reverse_sk_key);
	__type(value, struct lb4_reverse_sk);
	__uint(max_entries, LB_REVERSE_SK_MAP_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb4_reverse_sk SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct lb6_reverse_sk_key);
	__type(value, struct lb6_reverse_sk);
	__uint(max_entries, LB_REVERSE_SK_MAP_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb6_reverse_sk SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct sock_lb_config);
	__uint(max_entries, 1);
} cilium_sock_config SEC(".maps");
