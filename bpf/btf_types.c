/* SPDX-License-Identifier: Apache-2.0 */
/* Never loaded. One global of every struct shared with TypeScript, so build/btf_types.o
 * carries their full BTF; test/datapath/layout.test.ts compares it with the codecs in
 * src/datapath/codecs.ts byte for byte. bpf_lxc.o is built from the same headers. */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/ipcache.h"
#include "lib/conntrack.h"
#include "lib/policy.h"
#include "lib/metrics.h"
#include "lib/events.h"
#include "lib/lb.h"
#include "lib/lb-ct.h"
#include "lib/nodeport.h"
#include "lib/sock.h"
#include "lib/encap.h"

struct endpoint_info btf_endpoint_info;
struct endpoint_key btf_endpoint_key;
struct ipcache_key btf_ipcache_key;
struct remote_endpoint_info btf_remote_endpoint_info;
struct ct_key btf_ct_key;
struct ct_entry btf_ct_entry;
struct policy_key btf_policy_key;
struct policy_entry btf_policy_entry;
struct metrics_key btf_metrics_key;
struct metrics_value btf_metrics_value;
struct flow_event btf_flow_event;
struct lb4_key btf_lb4_key;
struct lb6_key btf_lb6_key;
struct lb4_service btf_lb4_service;
struct lb6_service btf_lb6_service;
struct lb4_backend btf_lb4_backend;
struct lb6_backend btf_lb6_backend;
struct lb4_reverse_nat btf_lb4_reverse_nat;
struct lb6_reverse_nat btf_lb6_reverse_nat;
struct lb4_affinity_key btf_lb4_affinity_key;
struct lb6_affinity_key btf_lb6_affinity_key;
struct lb_affinity_val btf_lb_affinity_val;
struct lb_affinity_match btf_lb_affinity_match;
struct lb4_src_range_key btf_lb4_src_range_key;
struct lb6_src_range_key btf_lb6_src_range_key;
struct lb_ct_entry btf_lb_ct_entry;
struct lb4_reverse_sk_key btf_lb4_reverse_sk_key;
struct lb6_reverse_sk_key btf_lb6_reverse_sk_key;
struct lb4_reverse_sk btf_lb4_reverse_sk;
struct lb6_reverse_sk btf_lb6_reverse_sk;
struct sock_lb_config btf_sock_lb_config;

struct nat4_key btf_nat4_key;
struct nat4_entry btf_nat4_entry;
struct nodeport_config btf_nodeport_config;
struct encap_config btf_encap_config;

char LICENSE[] SEC("license") = "Dual BSD/GPL";
