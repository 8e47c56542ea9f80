/* SPDX-License-Identifier: Apache-2.0 */
/* Flow events on a ring buffer: one record per dropped packet and per new flow forwarded
 * (like Cilium's drop notifications and policy-verdict notifications with monitor
 * aggregation). Established/reply packets are counted in metrics, not reported. */
#pragma once
#include "common.h"
#include "parse.h"

#define EVENTS_RING_SIZE (1 << 22)

/* Hubble's Verdict numbers */
#define VERDICT_FORWARDED 1
#define VERDICT_DROPPED 2

struct flow_event {
	__u64 timestamp; /* bpf_ktime_get_ns */
	__u32 src_identity;
	__u32 dst_identity;
	__u32 ifindex;
	__u32 ep_id;
	__u32 saddr[4]; /* network byte order; IPv4 in saddr[0] */
	__u32 daddr[4];
	__u16 sport; /* network byte order */
	__u16 dport;
	__u8 family;
	__u8 protocol;
	__u8 verdict;
	__u8 drop_reason;
	__u8 direction; /* DIR_INGRESS / DIR_EGRESS */
	__u8 tcp_flags;
	__u8 ct_state;
	__u8 icmp_type; /* ICMP/ICMPv6 type, else 0 */
	__u32 len;      /* packet length */
	__u16 rev_nat;  /* the Service's rev-NAT id when the packet was translated to a backend, else 0 */
	__u16 pad1;
	__u32 pad2;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EVENTS_RING_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_events SEC(".maps");

/* Flow events the ring buffer had no room for (reader too slow): one per-CPU counter, read by
 * the agent and reported to observers as lost events, as Hubble reports perf ring losses. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_events_lost SEC(".maps");

/* The verdict half of a flow event (BPF calls take at most five arguments). */
struct flow_meta {
	__u32 ep_id;
	__u32 src_id;
	__u32 dst_id;
	__u8 verdict;
	__u8 reason;
	__u8 dir;
	__u8 ct_state;
	__u16 rev_nat; /* service translation (lb-nat.h), 0 when none */
};

__attribute__((noinline)) int emit_flow(struct __sk_buff *ctx, const struct pkt *p,
					 const struct flow_meta *m)
{
	struct flow_event *ev;

	if (!p || !m)
		return 0;
	ev = bpf_ringbuf_reserve(&cilium_events, sizeof(*ev), 0);
	if (!ev) {
		__u32 zero = 0;
		__u64 *lost = bpf_map_lookup_elem(&cilium_events_lost, &zero);

		if (lost)
			*lost += 1;
		return 0;
	}
	ev->timestamp = bpf_ktime_get_ns();
	ev->src_identity = m->src_id;
	ev->dst_identity = m->dst_id;
	ev->ifindex = ctx->ifindex;
	ev->ep_id = m->ep_id;
	__builtin_memcpy(ev->saddr, p->t.saddr, 16);
	__builtin_memcpy(ev->daddr, p->t.daddr, 16);
	ev->sport = p->t.sport;
	ev->dport = p->t.dport;
	ev->family = p->t.family;
	ev->protocol = p->t.nexthdr;
	ev->verdict = m->verdict;
	ev->drop_reason = m->reason;
	ev->direction = m->dir;
	ev->tcp_flags = p->tcp_flags;
	ev->ct_state = m->ct_state;
	ev->icmp_type = (p->t.nexthdr == IPPROTO_ICMP || p->t.nexthdr == IPPROTO_ICMPV6) ?
				(__u8)p->policy_port : 0;
	ev->len = ctx->len;
	ev->rev_nat = m->rev_nat;
	ev->pad1 = 0;
	ev->pad2 = 0;
	bpf_ringbuf_submit(ev, 0);
	return 1;
}
