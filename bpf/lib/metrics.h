/* SPDX-License-Identifier: Apache-2.0 */
/* Per-CPU packet/byte counters by (reason, direction), as Cilium's cilium_metrics. */
#pragma once
#include "common.h"

#define METRICS_MAP_SIZE 1024

struct metrics_key {
	__u8 reason; /* 0 forwarded, else a drop reason */
	__u8 dir;    /* DIR_INGRESS / DIR_EGRESS */
	__u16 pad1;
	__u32 pad2;
};

struct metrics_value {
	__u64 count;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct metrics_key);
	__type(value, struct metrics_value);
	__uint(max_entries, METRICS_MAP_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_metrics SEC(".maps");

static __always_inline void metrics_update(__u8 reason, __u8 dir, __u32 bytes)
{
	struct metrics_key key = { .reason = reason, .dir = dir };
	struct metrics_value *v = bpf_map_lookup_elem(&cilium_metrics, &key);

	if (!v) {
		struct metrics_value init = { .count = 1, .bytes = bytes };

		bpf_map_update_elem(&cilium_metrics, &key, &init, BPF_NOEXIST);
		return;
	}
	v->count += 1;
	v->bytes += bytes;
}
