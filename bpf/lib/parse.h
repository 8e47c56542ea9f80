/* SPDX-License-Identifier: Apache-2.0 */
/* Packet parsing: Ethernet, IPv4 (options), IPv6 (extension headers), TCP, UDP, ICMP,
 * ICMPv6. Every read goes through bpf_skb_load_bytes, which checks offset + length against
 * the packet (linear or not) and fails on a truncated packet; every failure is turned into
 * a drop reason, never a read past the end. */
#pragma once
#include "common.h"
#include "drop.h"
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmpv6.h>

/* linux/icmp.h drags in glibc's socket headers, which do not build for -target bpf. */
struct icmphdr {
	__u8 type;
	__u8 code;
	__u16 checksum;
	union {
		struct {
			__u16 id;
			__u16 sequence;
		} echo;
		__u32 gateway;
	} un;
};

#define ICMP_DEST_UNREACH 3
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

#ifndef ETH_P_ARP
#define ETH_P_ARP 0x0806
#endif

#define IPV6_MAX_EXTHDRS 4

/* ICMP "ports" in the conntrack tuple: an echo request is (0 -> id), its reply (id -> 0),
 * so that the reversed reply tuple is the request tuple. */
#define ICMP_ECHO_REQ 8
#define ICMP_ECHO_REP 0
#define ICMP6_ECHO_REQ 128
#define ICMP6_ECHO_REP 129

/* struct pkt.kind */
#define PKT_NORMAL 0
#define PKT_ICMP_ERROR 1 /* ICMP error: inner tuple filled in */
#define PKT_NDP 2        /* ICMPv6 neighbour discovery and MLD: always passes */

struct tuple {
	__u32 saddr[4];
	__u32 daddr[4];
	__u16 sport; /* network byte order */
	__u16 dport; /* network byte order */
	__u8 nexthdr;
	__u8 family;
	__u16 pad;
};

struct pkt {
	struct tuple t;
	struct tuple inner; /* ICMP errors: the packet the error is about */
	__u16 policy_port;  /* host order: TCP/UDP dport, ICMP type */
	__u8 tcp_flags;
	__u8 kind;
	__u8 has_inner;
	__u8 pad;
	__u16 l4_off;       /* offset of the L4 header (service translation rewrites it) */
	__u16 inner_off;    /* ICMP errors: offset of the inner IP header */
	__u16 pad2;
};

/* Return values of parse_packet besides a positive drop reason. */
#define PARSE_OK 0
#define PARSE_PASS -1 /* not IP (ARP): let it through untouched */

static __always_inline int load_l4_ports(struct __sk_buff *ctx, __u32 off, struct tuple *t)
{
	__u16 ports[2];

	if (t->nexthdr != IPPROTO_TCP && t->nexthdr != IPPROTO_UDP)
		return PARSE_OK;
	if (bpf_skb_load_bytes(ctx, off, ports, sizeof(ports)) < 0)
		return DROP_CT_INVALID_HDR;
	t->sport = ports[0];
	t->dport = ports[1];
	return PARSE_OK;
}

/* The inner IPv4 header of an ICMP error plus the first 8 bytes of its L4 header. */
static __always_inline int parse_inner_ipv4(struct __sk_buff *ctx, __u32 off, struct pkt *p)
{
	struct iphdr ip;

	p->inner_off = off;
	if (bpf_skb_load_bytes(ctx, off, &ip, sizeof(ip)) < 0)
		return DROP_INVALID;
	if (ip.ihl < 5)
		return DROP_INVALID;
	p->inner.family = FAMILY_IPV4;
	p->inner.saddr[0] = ip.saddr;
	p->inner.daddr[0] = ip.daddr;
	p->inner.nexthdr = ip.protocol;
	if (load_l4_ports(ctx, off + ip.ihl * 4, &p->inner) != PARSE_OK)
		return DROP_INVALID;
	p->has_inner = 1;
	return PARSE_OK;
}

static __always_inline int parse_inner_ipv6(struct __sk_buff *ctx, __u32 off, struct pkt *p)
{
	struct ipv6hdr ip6;

	p->inner_off = off;
	if (bpf_skb_load_bytes(ctx, off, &ip6, sizeof(ip6)) < 0)
		return DROP_INVALID;
	p->inner.family = FAMILY_IPV6;
	__builtin_memcpy(p->inner.saddr, &ip6.saddr, 16);
	__builtin_memcpy(p->inner.daddr, &ip6.daddr, 16);
	p->inner.nexthdr = ip6.nexthdr; /* extension headers in the inner packet: ports stay 0 */
	if (load_l4_ports(ctx, off + sizeof(ip6), &p->inner) != PARSE_OK)
		return DROP_INVALID;
	p->has_inner = 1;
	return PARSE_OK;
}

static __always_inline int parse_l4(struct __sk_buff *ctx, __u32 off, struct pkt *p)
{
	struct tuple *t = &p->t;

	p->l4_off = off;
	switch (t->nexthdr) {
	case IPPROTO_TCP: {
		__u8 hdr[14]; /* ports, seq, ack, doff, flags */

		if (bpf_skb_load_bytes(ctx, off, hdr, sizeof(hdr)) < 0)
			return DROP_CT_INVALID_HDR;
		__builtin_memcpy(&t->sport, &hdr[0], 2);
		__builtin_memcpy(&t->dport, &hdr[2], 2);
		p->tcp_flags = hdr[13];
		p->policy_port = bpf_ntohs(t->dport);
		return PARSE_OK;
	}
	case IPPROTO_UDP: {
		__u16 ports[2];

		if (bpf_skb_load_bytes(ctx, off, ports, sizeof(ports)) < 0)
			return DROP_CT_INVALID_HDR;
		t->sport = ports[0];
		t->dport = ports[1];
		p->policy_port = bpf_ntohs(t->dport);
		return PARSE_OK;
	}
	case IPPROTO_ICMP: {
		struct icmphdr icmp;

		if (t->family != FAMILY_IPV4)
			return DROP_UNKNOWN_L4;
		if (bpf_skb_load_bytes(ctx, off, &icmp, sizeof(icmp)) < 0)
			return DROP_CT_INVALID_HDR;
		p->policy_port = icmp.type;
		switch (icmp.type) {
		case ICMP_ECHO_REQ:
			t->dport = icmp.un.echo.id;
			break;
		case ICMP_ECHO_REP:
			t->sport = icmp.un.echo.id;
			break;
		case ICMP_DEST_UNREACH:
		case ICMP_TIME_EXCEEDED:
		case ICMP_PARAMETERPROB:
			p->kind = PKT_ICMP_ERROR;
			/* An unparsable inner header only means "not related". */
			parse_inner_ipv4(ctx, off + sizeof(icmp), p);
			break;
		}
		return PARSE_OK;
	}
	case IPPROTO_ICMPV6: {
		struct icmp6hdr icmp6;

		if (t->family != FAMILY_IPV6)
			return DROP_UNKNOWN_L4;
		if (bpf_skb_load_bytes(ctx, off, &icmp6, sizeof(icmp6)) < 0)
			return DROP_CT_INVALID_HDR;
		p->policy_port = icmp6.icmp6_type;
		switch (icmp6.icmp6_type) {
		case ICMP6_ECHO_REQ:
			t->dport = icmp6.icmp6_identifier;
			break;
		case ICMP6_ECHO_REP:
			t->sport = icmp6.icmp6_identifier;
			break;
		case ICMPV6_DEST_UNREACH:
		case ICMPV6_PKT_TOOBIG:
		case ICMPV6_TIME_EXCEED:
		case ICMPV6_PARAMPROB:
			p->kind = PKT_ICMP_ERROR;
			parse_inner_ipv6(ctx, off + sizeof(icmp6), p);
			break;
		case 133 ... 137: /* router/neighbour solicitation/advertisement, redirect */
		case 130 ... 132: /* multicast listener query/report/done (MLDv1) */
		case 143:         /* MLDv2 report: link-local control traffic, never a connection */
			p->kind = PKT_NDP;
			break;
		}
		return PARSE_OK;
	}
	default:
		/* Other protocols are matched by protocol only (port 0). */
		return PARSE_OK;
	}
}

static __always_inline int parse_ipv4(struct __sk_buff *ctx, struct pkt *p)
{
	struct iphdr ip;
	__u32 off = ETH_HLEN;

	if (bpf_skb_load_bytes(ctx, off, &ip, sizeof(ip)) < 0)
		return DROP_INVALID;
	if (ip.version != 4 || ip.ihl < 5)
		return DROP_INVALID;
	if (bpf_ntohs(ip.tot_len) < ip.ihl * 4 || ctx->len < ETH_HLEN + bpf_ntohs(ip.tot_len))
		return DROP_INVALID;
	/* Non-first fragments carry no L4 header; without fragment tracking they cannot be
	 * matched to ports (Cilium without ENABLE_IPV4_FRAGMENTS does the same). */
	if (bpf_ntohs(ip.frag_off) & 0x1fff)
		return DROP_FRAG_NOSUPPORT;
	p->t.family = FAMILY_IPV4;
	p->t.saddr[0] = ip.saddr;
	p->t.daddr[0] = ip.daddr;
	p->t.nexthdr = ip.protocol;
	return parse_l4(ctx, off + ip.ihl * 4, p);
}

static __always_inline int parse_ipv6(struct __sk_buff *ctx, struct pkt *p)
{
	struct ipv6hdr ip6;
	__u32 off = ETH_HLEN;
	__u8 nexthdr;
	int i;

	if (bpf_skb_load_bytes(ctx, off, &ip6, sizeof(ip6)) < 0)
		return DROP_INVALID;
	if (ip6.version != 6)
		return DROP_INVALID;
	if (ctx->len < ETH_HLEN + sizeof(ip6) + bpf_ntohs(ip6.payload_len))
		return DROP_INVALID;
	p->t.family = FAMILY_IPV6;
	__builtin_memcpy(p->t.saddr, &ip6.saddr, 16);
	__builtin_memcpy(p->t.daddr, &ip6.daddr, 16);
	nexthdr = ip6.nexthdr;
	off += sizeof(ip6);

#pragma unroll
	for (i = 0; i < IPV6_MAX_EXTHDRS; i++) {
		__u8 opt[2]; /* next header, length */

		if (nexthdr != IPPROTO_HOPOPTS && nexthdr != IPPROTO_ROUTING &&
		    nexthdr != IPPROTO_DSTOPTS && nexthdr != IPPROTO_FRAGMENT &&
		    nexthdr != IPPROTO_AH)
			break;
		if (nexthdr == IPPROTO_FRAGMENT) {
			__u16 frag[2]; /* nexthdr+reserved, offset+flags */

			if (bpf_skb_load_bytes(ctx, off, frag, sizeof(frag)) < 0)
				return DROP_INVALID;
			if (bpf_ntohs(frag[1]) & 0xfff8)
				return DROP_FRAG_NOSUPPORT;
			nexthdr = frag[0] & 0xff;
			off += 8;
			continue;
		}
		if (bpf_skb_load_bytes(ctx, off, opt, sizeof(opt)) < 0)
			return DROP_INVALID;
		if (nexthdr == IPPROTO_AH)
			off += ((__u32)opt[1] + 2) * 4;
		else
			off += ((__u32)opt[1] + 1) * 8;
		nexthdr = opt[0];
	}
	if (nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	    nexthdr == IPPROTO_DSTOPTS || nexthdr == IPPROTO_FRAGMENT || nexthdr == IPPROTO_AH)
		return DROP_INVALID; /* more extension headers than we follow */
	p->t.nexthdr = nexthdr;
	return parse_l4(ctx, off, p);
}

/* PARSE_OK, PARSE_PASS, or a positive drop reason. */
__attribute__((noinline)) int parse_packet(struct __sk_buff *ctx, struct pkt *p)
{
	__u16 proto;

	if (!p)
		return DROP_INVALID;

	if (bpf_skb_load_bytes(ctx, 12, &proto, sizeof(proto)) < 0)
		return DROP_INVALID;
	switch (bpf_ntohs(proto)) {
	case ETH_P_IP:
		return parse_ipv4(ctx, p);
	case ETH_P_IPV6:
		return parse_ipv6(ctx, p);
	case ETH_P_ARP:
		return PARSE_PASS;
	default:
		return DROP_UNKNOWN_L3;
	}
}
