/* SPDX-License-Identifier: Apache-2.0 */
/* Includes and small helpers shared by every cilium-ts BPF program. */
#pragma once

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Metric/flow direction, as Cilium's METRIC_INGRESS / METRIC_EGRESS. */
#define DIR_INGRESS 1
#define DIR_EGRESS 2

/* Address family tag used in map keys (Cilium's ENDPOINT_KEY_IPV4/IPV6). */
#define FAMILY_IPV4 1
#define FAMILY_IPV6 2

/* Reserved security identities (Cilium's numbering). */
#define IDENTITY_UNKNOWN 0
#define IDENTITY_HOST 1
#define IDENTITY_WORLD 2
