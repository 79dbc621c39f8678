/* The socket option table of the network kinds (see sockopt.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"
#include "criu-lite/files/sockopt.h"

#ifndef SO_BUF_LOCK
#define SO_BUF_LOCK 72
#endif
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif
#ifndef SOL_RAW
#define SOL_RAW 255
#endif
#ifndef ICMP_FILTER
#define ICMP_FILTER 1
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef UDP_NO_CHECK6_TX
#define UDP_NO_CHECK6_TX 101
#define UDP_NO_CHECK6_RX 102
#endif

enum sko_type {
	SKO_T_INT,    /* uint32 field */
	SKO_T_TIMEO,  /* struct timeval <-> uint64 microseconds */
	SKO_T_STR,    /* a name (SO_BINDTODEVICE, TCP_CONGESTION) */
	SKO_T_BYTES,  /* fixed-size bytes (ICMP6_FILTER) */
	SKO_T_FILTER, /* SO_GET_FILTER / SO_ATTACH_FILTER */
	SKO_T_LINGER, /* struct linger <-> linger_on, linger_s */
};

#define SKO_NO_CONNECTED 0x1u /* not on a TCP connection (the kernel's value, not the user's) */
#define SKO_RESTORE_SKIP 0x2u /* the kinds restore it themselves */
#define SKO_ONLY_V6 0x4u      /* and only on AF_INET6 */

struct sko_def {
	const char *name;
	int level, opt;
	enum sko_type type;
	unsigned mask;
	unsigned flags;
	size_t has_off, off;
	size_t len; /* SKO_T_BYTES, SKO_T_STR (maximum) */
};

#define F_(field) offsetof(SkOptsEntry, has_##field), offsetof(SkOptsEntry, field)
#define S_(field) 0, offsetof(SkOptsEntry, field)
#define INT(lvl, o, m, field) { #o, lvl, o, SKO_T_INT, m, 0, F_(field), 0 }
#define INTF(lvl, o, m, fl, field) { #o, lvl, o, SKO_T_INT, m, fl, F_(field), 0 }

static const struct sko_def sko_table[] = {
	INTF(SOL_SOCKET, SO_BUF_LOCK, SKO_SOCK, SKO_RESTORE_SKIP, buf_lock),
	INTF(SOL_SOCKET, SO_REUSEADDR, SKO_SOCK, SKO_RESTORE_SKIP, reuseaddr),
	INTF(SOL_SOCKET, SO_REUSEPORT, SKO_SOCK, SKO_RESTORE_SKIP, reuseport),
	INT(SOL_SOCKET, SO_KEEPALIVE, SKO_SOCK, keepalive),
	INT(SOL_SOCKET, SO_MARK, SKO_SOCK, mark),
	INT(SOL_SOCKET, SO_RCVLOWAT, SKO_SOCK, rcvlowat),
	{ "SO_SNDTIMEO", SOL_SOCKET, SO_SNDTIMEO, SKO_T_TIMEO, SKO_SOCK, 0, F_(sndtimeo_us), 0 },
	{ "SO_RCVTIMEO", SOL_SOCKET, SO_RCVTIMEO, SKO_T_TIMEO, SKO_SOCK, 0, F_(rcvtimeo_us), 0 },
	{ "SO_LINGER", SOL_SOCKET, SO_LINGER, SKO_T_LINGER, SKO_SOCK, 0, F_(linger_on), 0 },
	INT(SOL_SOCKET, SO_OOBINLINE, SKO_SOCK, oobinline),
	INT(SOL_SOCKET, SO_BROADCAST, SKO_SOCK, broadcast),
	INT(SOL_SOCKET, SO_DONTROUTE, SKO_SOCK, dontroute),
	INT(SOL_SOCKET, SO_PASSCRED, SKO_SOCK, passcred),
	INT(SOL_SOCKET, SO_NO_CHECK, SKO_SOCK, no_check),
	{ "SO_BINDTODEVICE", SOL_SOCKET, SO_BINDTODEVICE, SKO_T_STR, SKO_SOCK, 0, S_(bound_dev), IFNAMSIZ },
	{ "SO_GET_FILTER", SOL_SOCKET, SO_GET_FILTER, SKO_T_FILTER, SKO_SOCK, 0, F_(filter), 0 },
	INT(SOL_SOCKET, SO_LOCK_FILTER, SKO_SOCK, lock_filter),
	INT(SOL_SOCKET, SO_TIMESTAMP_OLD, SKO_SOCK, timestamp),
	INT(SOL_SOCKET, SO_TIMESTAMPNS_OLD, SKO_SOCK, timestampns),
	INT(SOL_SOCKET, SO_RXQ_OVFL, SKO_SOCK, rxq_ovfl),
	INT(SOL_SOCKET, SO_BUSY_POLL, SKO_SOCK, busy_poll),
	INT(SOL_SOCKET, SO_PEEK_OFF, SKO_SOCK, peek_off),
	INT(SOL_SOCKET, SO_ZEROCOPY, SKO_TCP | SKO_UDP, zerocopy),

	INT(SOL_IP, IP_TOS, SKO_IP, ip_tos),
	/* after IP_TOS, which sets the priority too */
	INT(SOL_SOCKET, SO_PRIORITY, SKO_SOCK, priority),
	INT(SOL_IP, IP_TTL, SKO_IP, ip_ttl),
	INT(SOL_IP, IP_FREEBIND, SKO_IP, ip_freebind),
	INT(SOL_IP, IP_TRANSPARENT, SKO_IP, ip_transparent),
	INT(SOL_IP, IP_HDRINCL, SKO_RAW, ip_hdrincl),
	INT(SOL_IP, IP_RECVERR, SKO_IP, ip_recverr),
	INT(SOL_IP, IP_PKTINFO, SKO_IP, ip_pktinfo),
	INT(SOL_IP, IP_RECVTOS, SKO_IP, ip_recvtos),
	INT(SOL_IP, IP_RECVTTL, SKO_IP, ip_recvttl),
	INT(SOL_IP, IP_MTU_DISCOVER, SKO_IP, ip_mtu_discover),
	INT(SOL_IP, IP_MULTICAST_LOOP, SKO_UDP | SKO_RAW, ip_mc_loop),
	INT(SOL_IP, IP_MULTICAST_TTL, SKO_UDP | SKO_RAW, ip_mc_ttl),
	INT(SOL_IP, IP_MULTICAST_ALL, SKO_UDP | SKO_RAW, ip_mc_all),
	INT(SOL_IP, IP_BIND_ADDRESS_NO_PORT, SKO_IP, ip_bind_address_no_port),
	INT(SOL_IP, IP_LOCAL_PORT_RANGE, SKO_IP, ip_local_port_range),
	INT(SOL_IP, IP_NODEFRAG, SKO_RAW, ip_nodefrag),
	INT(SOL_IP, IP_RECVORIGDSTADDR, SKO_IP, ip_recvorigdstaddr),

	INT(SOL_IPV6, IPV6_TCLASS, SKO_IPV6, ipv6_tclass),
	INT(SOL_IPV6, IPV6_UNICAST_HOPS, SKO_IPV6, ipv6_unicast_hops),
	INT(SOL_IPV6, IPV6_FREEBIND, SKO_IPV6, ipv6_freebind),
	INT(SOL_IPV6, IPV6_TRANSPARENT, SKO_IPV6, ipv6_transparent),
	INT(SOL_IPV6, IPV6_RECVERR, SKO_IPV6, ipv6_recverr),
	INT(SOL_IPV6, IPV6_RECVPKTINFO, SKO_IPV6, ipv6_recvpktinfo),
	INT(SOL_IPV6, IPV6_MTU_DISCOVER, SKO_IPV6, ipv6_mtu_discover),
	INTF(SOL_IPV6, IPV6_MULTICAST_LOOP, SKO_UDP | SKO_RAW, SKO_ONLY_V6, ipv6_mc_loop),
	INTF(SOL_IPV6, IPV6_MULTICAST_HOPS, SKO_UDP | SKO_RAW, SKO_ONLY_V6, ipv6_mc_hops),
	INT(SOL_IPV6, IPV6_RECVTCLASS, SKO_IPV6, ipv6_recvtclass),
	INT(SOL_IPV6, IPV6_AUTOFLOWLABEL, SKO_IPV6, ipv6_autoflowlabel),
	INT(SOL_IPV6, IPV6_DONTFRAG, SKO_IPV6, ipv6_dontfrag),
	INTF(SOL_IPV6, IPV6_CHECKSUM, SKO_RAW, SKO_ONLY_V6, ipv6_checksum),

	INT(SOL_TCP, TCP_NODELAY, SKO_TCP, tcp_nodelay),
	INT(SOL_TCP, TCP_CORK, SKO_TCP, tcp_cork),
	INT(SOL_TCP, TCP_KEEPIDLE, SKO_TCP, tcp_keepidle),
	INT(SOL_TCP, TCP_KEEPINTVL, SKO_TCP, tcp_keepintvl),
	INT(SOL_TCP, TCP_KEEPCNT, SKO_TCP, tcp_keepcnt),
	INT(SOL_TCP, TCP_USER_TIMEOUT, SKO_TCP, tcp_user_timeout),
	INTF(SOL_TCP, TCP_MAXSEG, SKO_TCP, SKO_NO_CONNECTED, tcp_maxseg),
	INT(SOL_TCP, TCP_DEFER_ACCEPT, SKO_TCP, tcp_defer_accept),
	INT(SOL_TCP, TCP_LINGER2, SKO_TCP, tcp_linger2),
	INT(SOL_TCP, TCP_SYNCNT, SKO_TCP, tcp_syncnt),
	INTF(SOL_TCP, TCP_WINDOW_CLAMP, SKO_TCP, SKO_NO_CONNECTED, tcp_window_clamp),
	INT(SOL_TCP, TCP_NOTSENT_LOWAT, SKO_TCP, tcp_notsent_lowat),
	INT(SOL_TCP, TCP_FASTOPEN, SKO_TCP, tcp_fastopen),
	INT(SOL_TCP, TCP_THIN_LINEAR_TIMEOUTS, SKO_TCP, tcp_thin_linear_timeouts),
	{ "TCP_CONGESTION", SOL_TCP, TCP_CONGESTION, SKO_T_STR, SKO_TCP, 0, S_(tcp_congestion), 16 },

	INT(SOL_UDP, UDP_CORK, SKO_UDP, udp_cork),
	INT(SOL_UDP, UDP_SEGMENT, SKO_UDP, udp_segment),
	INT(SOL_UDP, UDP_GRO, SKO_UDP, udp_gro),
	INTF(SOL_UDP, UDP_NO_CHECK6_TX, SKO_UDP, SKO_ONLY_V6, udp_no_check6_tx),
	INTF(SOL_UDP, UDP_NO_CHECK6_RX, SKO_UDP, SKO_ONLY_V6, udp_no_check6_rx),

	INT(SOL_RAW, ICMP_FILTER, SKO_ICMP4, icmp_filter),
	{ "ICMP6_FILTER", IPPROTO_ICMPV6, ICMP6_FILTER, SKO_T_BYTES, SKO_ICMP6, 0, F_(icmp6_filter),
	  sizeof(struct icmp6_filter) },
};

unsigned sko_inet_mask(int family, int type, int protocol)
{
	unsigned m = SKO_SOCK | SKO_IP;

	if (family == AF_INET6)
		m |= SKO_IPV6;
	if (type == SOCK_STREAM && protocol == IPPROTO_TCP)
		m |= SKO_TCP;
	if (type == SOCK_DGRAM && (protocol == IPPROTO_UDP || protocol == IPPROTO_UDPLITE))
		m |= SKO_UDP;
	if (type == SOCK_RAW) {
		m |= SKO_RAW;
		if (family == AF_INET && protocol == IPPROTO_ICMP)
			m |= SKO_ICMP4;
		if (family == AF_INET6 && protocol == IPPROTO_ICMPV6)
			m |= SKO_ICMP6;
	}
	return m;
}

static bool applies(const struct sko_def *d, const struct sko_sock *s)
{
	if (!(d->mask & s->mask))
		return false;
	if ((d->flags & SKO_ONLY_V6) && !(s->mask & SKO_IPV6))
		return false;
	if ((d->flags & SKO_NO_CONNECTED) && s->connected)
		return false;
	return true;
}

/* One option's value as bytes (what getsockopt gave); *len in, out. 0, or -errno. */
static int get_raw(int fd, const struct sko_def *d, void *buf, socklen_t *len)
{
	if (d->type == SKO_T_FILTER) {
		socklen_t n = 0;
		if (getsockopt(fd, d->level, d->opt, NULL, &n) < 0)
			return -errno;
		if (n * sizeof(struct sock_filter) > *len)
			return -E2BIG;
		if (n && getsockopt(fd, d->level, d->opt, buf, &n) < 0)
			return -errno;
		*len = n * sizeof(struct sock_filter);
		return 0;
	}
	return getsockopt(fd, d->level, d->opt, buf, len) < 0 ? -errno : 0;
}

#define SKO_BUF 8192 /* a BPF filter of up to 1024 instructions */

int sko_dump(const struct sko_sock *s, SkOptsEntry **ret)
{
	cleanup_close int fresh = socket(s->family, s->type | SOCK_CLOEXEC, s->protocol);
	cleanup_free uint8_t *buf = malloc(SKO_BUF), *fbuf = malloc(SKO_BUF);
	SkOptsEntry *o = files_zalloc(sizeof(*o), "socket options");

	if (!o || !buf || !fbuf) {
		pr_perror("can't allocate the options of %s", s->what);
		free(o);
		return -1;
	}
	sk_opts_entry__init(o);
	for (size_t i = 0; i < ARRAY_SIZE(sko_table); i++) {
		const struct sko_def *d = &sko_table[i];
		socklen_t len = SKO_BUF, flen = SKO_BUF;
		int r;

		if (!applies(d, s))
			continue;
		memset(buf, 0, SKO_BUF);
		r = get_raw(s->fd, d, buf, &len);
		if (r == -ENOPROTOOPT || r == -EOPNOTSUPP || r == -EINVAL) {
			pr_debug("%s: %s: %s, ignoring\n", s->what, d->name, strerror(-r));
			continue;
		}
		if (r == -EACCES && d->type == SKO_T_FILTER) {
			pr_err("%s has an eBPF socket filter (SO_ATTACH_BPF): criu-lite can't carry it\n", s->what);
			goto err;
		}
		if (r < 0) {
			errno = -r;
			pr_perror("%s: getsockopt %s", s->what, d->name);
			goto err;
		}
		/* the value a new socket has: only what differs is the user's */
		memset(fbuf, 0, SKO_BUF);
		if (fresh >= 0 && get_raw(fresh, d, fbuf, &flen) == 0 && flen == len && !memcmp(buf, fbuf, len))
			continue;
		switch (d->type) {
		case SKO_T_INT: {
			int v;
			memcpy(&v, buf, sizeof(v));
			*(protobuf_c_boolean *)((char *)o + d->has_off) = true;
			*(uint32_t *)((char *)o + d->off) = (uint32_t)v;
			break;
		}
		case SKO_T_TIMEO: {
			struct timeval tv;
			memcpy(&tv, buf, sizeof(tv));
			*(protobuf_c_boolean *)((char *)o + d->has_off) = true;
			*(uint64_t *)((char *)o + d->off) = (uint64_t)tv.tv_sec * 1000000ULL + (uint64_t)tv.tv_usec;
			break;
		}
		case SKO_T_LINGER: {
			struct linger l;
			memcpy(&l, buf, sizeof(l));
			o->has_linger_on = o->has_linger_s = true;
			o->linger_on = l.l_onoff;
			o->linger_s = l.l_linger;
			break;
		}
		case SKO_T_STR: {
			char *str = strndup((char *)buf, MIN((size_t)len, d->len));
			if (!str) {
				pr_perror("can't copy %s of %s", d->name, s->what);
				goto err;
			}
			if (!*str) {
				free(str);
				break;
			}
			*(char **)((char *)o + d->off) = str;
			break;
		}
		case SKO_T_BYTES:
		case SKO_T_FILTER: {
			ProtobufCBinaryData *b = (ProtobufCBinaryData *)((char *)o + d->off);
			if (!len)
				break;
			b->data = malloc(len);
			if (!b->data) {
				pr_perror("can't copy %s of %s", d->name, s->what);
				goto err;
			}
			memcpy(b->data, buf, len);
			b->len = len;
			*(protobuf_c_boolean *)((char *)o + d->has_off) = true;
			break;
		}
		}
	}
	/* the buffers: only those the user set (the kernel tunes the others) */
	if (o->has_buf_lock && (o->buf_lock & 1)) {
		int v;
		socklen_t l = sizeof(v);
		if (getsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &v, &l) == 0) {
			o->has_sndbuf = true;
			o->sndbuf = v;
		}
	}
	if (o->has_buf_lock && (o->buf_lock & 2)) {
		int v;
		socklen_t l = sizeof(v);
		if (getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &v, &l) == 0) {
			o->has_rcvbuf = true;
			o->rcvbuf = v;
		}
	}
	*ret = o;
	return 0;
err:
	sk_opts_entry__free_unpacked(o, NULL);
	return -1;
}

int sko_type_proto(int fd, int *ret_type, int *ret_protocol, const char *what)
{
	socklen_t l = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, ret_type, &l) < 0) {
		pr_perror("%s: SO_TYPE", what);
		return -1;
	}
	l = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, ret_protocol, &l) < 0) {
		pr_perror("%s: SO_PROTOCOL", what);
		return -1;
	}
	return 0;
}

int sko_set_int(const struct sko_sock *s, int level, int opt, int val, const char *name)
{
	if (setsockopt(s->fd, level, opt, &val, sizeof(val)) < 0) {
		pr_perror("%s: can't set %s to %d", s->what, name, val);
		return -1;
	}
	return 0;
}

static int set_one(const struct sko_sock *s, const struct sko_def *d, const SkOptsEntry *o)
{
	const char *base = (const char *)o;
	bool has = d->has_off ? *(const protobuf_c_boolean *)(base + d->has_off) : false;

	switch (d->type) {
	case SKO_T_INT:
		if (!has)
			return 0;
		return sko_set_int(s, d->level, d->opt, (int)*(const uint32_t *)(base + d->off), d->name);
	case SKO_T_TIMEO: {
		uint64_t us = *(const uint64_t *)(base + d->off);
		struct timeval tv = { (time_t)(us / 1000000), (suseconds_t)(us % 1000000) };
		if (!has)
			return 0;
		if (setsockopt(s->fd, d->level, d->opt, &tv, sizeof(tv)) < 0) {
			pr_perror("%s: can't set %s to %" PRIu64 " us", s->what, d->name, us);
			return -1;
		}
		return 0;
	}
	case SKO_T_LINGER: {
		struct linger l = { (int)o->linger_on, (int)o->linger_s };
		if (!o->has_linger_on)
			return 0;
		if (setsockopt(s->fd, d->level, d->opt, &l, sizeof(l)) < 0) {
			pr_perror("%s: can't set SO_LINGER", s->what);
			return -1;
		}
		return 0;
	}
	case SKO_T_STR: {
		const char *str = *(char *const *)(base + d->off);
		if (!str)
			return 0;
		if (setsockopt(s->fd, d->level, d->opt, str, strlen(str)) < 0) {
			pr_perror("%s: can't set %s to %s", s->what, d->name, str);
			return -1;
		}
		return 0;
	}
	case SKO_T_BYTES: {
		const ProtobufCBinaryData *b = (const ProtobufCBinaryData *)(base + d->off);
		if (!has)
			return 0;
		if (b->len != d->len || setsockopt(s->fd, d->level, d->opt, b->data, b->len) < 0) {
			pr_perror("%s: can't set %s (%zu bytes)", s->what, d->name, b->len);
			return -1;
		}
		return 0;
	}
	case SKO_T_FILTER: {
		const ProtobufCBinaryData *b = (const ProtobufCBinaryData *)(base + d->off);
		struct sock_fprog prog = { (unsigned short)(b->len / sizeof(struct sock_filter)),
					   (struct sock_filter *)b->data };
		if (!has || !b->len)
			return 0;
		if (setsockopt(s->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) {
			pr_perror("%s: can't attach its socket filter (%u instructions)", s->what, prog.len);
			return -1;
		}
		return 0;
	}
	}
	return 0;
}

int sko_restore(const struct sko_sock *s, const SkOptsEntry *o)
{
	if (!o)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(sko_table); i++) {
		const struct sko_def *d = &sko_table[i];
		if ((d->flags & SKO_RESTORE_SKIP) || !applies(d, s))
			continue;
		/* SO_LOCK_FILTER last: a locked filter can't be attached */
		if (d->opt == SO_LOCK_FILTER && d->level == SOL_SOCKET)
			continue;
		if (set_one(s, d, o) < 0)
			return -1;
	}
	if (o->has_lock_filter && o->lock_filter &&
	    sko_set_int(s, SOL_SOCKET, SO_LOCK_FILTER, 1, "SO_LOCK_FILTER") < 0)
		return -1;
	return 0;
}

int sko_restore_bufs(const struct sko_sock *s, const SkOptsEntry *o)
{
	if (!o)
		return 0;
	/* the kernel doubles what it is given: give half of what it said */
	if (o->has_sndbuf && sko_set_int(s, SOL_SOCKET, SO_SNDBUFFORCE, (int)(o->sndbuf / 2), "SO_SNDBUFFORCE") < 0)
		return -1;
	if (o->has_rcvbuf && sko_set_int(s, SOL_SOCKET, SO_RCVBUFFORCE, (int)(o->rcvbuf / 2), "SO_RCVBUFFORCE") < 0)
		return -1;
	if (sko_set_int(s, SOL_SOCKET, SO_BUF_LOCK, o->has_buf_lock ? (int)o->buf_lock : 0, "SO_BUF_LOCK") < 0)
		return -1;
	return 0;
}

socklen_t sko_inet_addr(const InetSkEntry *ie, bool dst, struct sockaddr_storage *ss)
{
	const ProtobufCBinaryData *a = dst ? &ie->dst_addr : &ie->src_addr;
	bool has = dst ? ie->has_dst_addr : ie->has_src_addr;
	uint16_t port = htons((uint16_t)(dst ? ie->dst_port : ie->src_port));

	memset(ss, 0, sizeof(*ss));
	if (ie->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = port;
		if (has && a->len == 4)
			memcpy(&sin->sin_addr, a->data, 4);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = port;
	sin6->sin6_scope_id = ie->scope_id;
	if (has && a->len == 16)
		memcpy(&sin6->sin6_addr, a->data, 16);
	return sizeof(*sin6);
}

const char *sko_addr_str(int family, const uint8_t *addr, uint32_t port, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	static const uint8_t zero[16];

	inet_ntop(family, addr ? addr : zero, a, sizeof(a));
	snprintf(buf, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
	return buf;
}
