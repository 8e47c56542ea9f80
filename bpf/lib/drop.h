/* SPDX-License-Identifier: Apache-2.0 */
/* Drop reasons. The numbers are Cilium's (bpf/lib/common.h, where they are negative
 * return codes; metrics and flows carry the positive value) so that a Cilium user reads
 * the same reason numbers in our metrics and flow events. REASON_FORWARDED is 0. */
#pragma once

#define REASON_FORWARDED 0
#define DROP_INVALID_SIP 132
#define DROP_POLICY 133
#define DROP_INVALID 134
#define DROP_CT_INVALID_HDR 135
#define DROP_FRAG_NEEDED 136
#define DROP_CT_UNKNOWN_PROTO 137
#define DROP_UNKNOWN_L3 139
#define DROP_UNKNOWN_L4 142
#define DROP_FRAG_NOSUPPORT 157
#define DROP_NO_SERVICE 158
#define DROP_NO_CONFIG 165
#define DROP_INVALID_IDENTITY 171
#define DROP_FORBIDDEN_ICMP6 176
#define DROP_NOT_IN_SRC_RANGE 177
#define DROP_POLICY_DENY 181
