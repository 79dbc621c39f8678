/*
 * AF_INET and AF_INET6 sockets: TCP (listening, established through TCP_REPAIR
 * with --tcp-established, closed), UDP and UDP-Lite (bound, connected), raw
 * sockets and ICMP datagram ("ping") sockets, with IPv4-mapped IPv6 addresses.
 *
 * Dump reads the socket through criu-lite's copy of it (pidfd_getfd): its names
 * (getsockname, getpeername), its options (sockopt.c), and from sock_diag its
 * state, shutdown and queues. Datagrams queued in a UDP or raw socket are not
 * carried (as in CRIU): a warning says how many bytes are dropped.
 *
 * Restore creates the socket in criu-lite (a service fd every task inherits),
 * sets its options, binds it (SO_REUSEADDR on while it binds, so that sockets of
 * the tree sharing a port come back in any order), listens or connects, and gives
 * it the user's SO_REUSEADDR back. An established connection is rebuilt by tcp.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CR_TCP_AO_INFO 40 /* linux/tcp.h of Linux 6.7 and later */

#define LOG_PREFIX "files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"
#include "criu-lite/files/net.h"
#include "criu-lite/files/netdiag.h"
#include "criu-lite/files/sockopt.h"
#include "criu-lite/files/tcp.h"

#define TCPF(s) (1u << (s))
#define CONN_STATES                                                                                    \
	(TCPF(TCP_ESTABLISHED) | TCPF(TCP_FIN_WAIT1) | TCPF(TCP_FIN_WAIT2) | TCPF(TCP_CLOSE_WAIT) |        \
	 TCPF(TCP_LAST_ACK) | TCPF(TCP_CLOSING))

static const char *proto_name(int type, int protocol)
{
	if (type == SOCK_STREAM)
		return "TCP";
	if (type == SOCK_RAW)
		return "raw";
	switch (protocol) {
	case IPPROTO_UDP: return "UDP";
	case IPPROTO_UDPLITE: return "UDP-Lite";
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: return "ICMP datagram";
	default: return "datagram";
	}
}

/* "fd 3 of pid 42 (TCP 127.0.0.1:80 -> 127.0.0.1:5000)" */
static void describe(char *buf, size_t len, const struct fd_probe *p, const InetSkEntry *ie)
{
	char a[64], b[64];

	sko_addr_str((int)ie->family, ie->has_src_addr ? ie->src_addr.data : NULL, ie->src_port, a, sizeof(a));
	if (ie->has_dst_addr)
		sko_addr_str((int)ie->family, ie->dst_addr.data, ie->dst_port, b, sizeof(b));
	snprintf(buf, len, "fd %d of pid %d (%s%s %s%s%s)", p->fd, p->pid, proto_name((int)ie->type, (int)ie->protocol),
		 ie->family == AF_INET6 ? "v6" : "", a, ie->has_dst_addr ? " -> " : "", ie->has_dst_addr ? b : "");
}

/* ---- dump ---- */

static bool inet_match(const struct fd_probe *p)
{
	return p->sk >= 0 && (p->sk_family == AF_INET || p->sk_family == AF_INET6);
}

static int copy_addr(ProtobufCBinaryData *d, protobuf_c_boolean *has, const void *a, size_t len)
{
	d->data = malloc(len);
	if (!d->data) {
		pr_perror("can't copy an address");
		return -1;
	}
	memcpy(d->data, a, len);
	d->len = len;
	*has = true;
	return 0;
}

/* getsockname/getpeername into the entry. 0 or -1 (logged). */
static int dump_names(int fd, InetSkEntry *ie, const struct fd_probe *p)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	static const uint8_t any[16];

	for (int peer = 0; peer < 2; peer++) {
		const void *a;
		uint16_t port;
		int r;

		l = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		r = peer ? getpeername(fd, (struct sockaddr *)&ss, &l) : getsockname(fd, (struct sockaddr *)&ss, &l);
		if (r < 0 && peer && errno == ENOTCONN)
			break;
		if (r < 0) {
			pr_perror("fd %d of pid %d: %s", p->fd, p->pid, peer ? "getpeername" : "getsockname");
			return -1;
		}
		if (ie->family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			a = &sin->sin_addr;
			port = ntohs(sin->sin_port);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
			a = &sin6->sin6_addr;
			port = ntohs(sin6->sin6_port);
			if (!peer)
				ie->scope_id = sin6->sin6_scope_id;
			ie->has_scope_id = ie->scope_id != 0;
		}
		if (peer) {
			if (copy_addr(&ie->dst_addr, &ie->has_dst_addr, a, ie->family == AF_INET ? 4 : 16) < 0)
				return -1;
			ie->has_dst_port = true;
			ie->dst_port = port;
		} else {
			if (copy_addr(&ie->src_addr, &ie->has_src_addr, a, ie->family == AF_INET ? 4 : 16) < 0)
				return -1;
			ie->has_src_port = ie->has_bound = true;
			ie->src_port = port;
			ie->bound = port || memcmp(a, any, ie->family == AF_INET ? 4 : 16);
		}
	}
	return 0;
}

/* A raw socket's peer: getpeername() does not give it and sock_diag may not know
 * raw sockets (CONFIG_INET_RAW_DIAG): /proc/net/raw{,6} lists it by inode. */
static int raw_peer(InetSkEntry *ie, const char *what)
{
	const char *path = ie->family == AF_INET ? "/proc/net/raw" : "/proc/net/raw6";
	size_t alen = ie->family == AF_INET ? 4 : 16;
	cleanup_free char *text = read_file_str(AT_FDCWD, path, 16u << 20, NULL);
	char *line, *save = NULL;

	if (!text)
		return -1;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char rem[40];
		unsigned st, port;
		unsigned long long ino;
		uint32_t w[4];
		uint8_t a[16];
		/* sl local rem st tx:rx tr:when retr uid timeout inode */
		if (sscanf(line, " %*s %*s %39[0-9A-Fa-f]:%x %x %*s %*s %*s %*s %*s %llu", rem, &port, &st, &ino) != 4 ||
		    ino != ie->ino)
			continue;
		if (st != TCP_ESTABLISHED)
			return 0;
		if (strlen(rem) != alen * 2)
			break;
		for (size_t i = 0; i < alen / 4; i++) {
			char word[9];
			memcpy(word, rem + i * 8, 8);
			word[8] = 0;
			w[i] = (uint32_t)strtoul(word, NULL, 16); /* each word as the kernel printed it: host order */
		}
		memcpy(a, w, alen);
		if (copy_addr(&ie->dst_addr, &ie->has_dst_addr, a, alen) < 0)
			return -1;
		ie->has_dst_port = true;
		ie->dst_port = port;
		return 0;
	}
	pr_err("%s: not found in %s\n", what, path);
	errno = ENOENT;
	return -1;
}

/* The socket's state, shutdown and queues: sock_diag (TCP, UDP), else what the
 * socket says of itself. */
static int dump_state(struct dump_ctx *ctx, const struct fd_probe *p, InetSkEntry *ie,
		      const struct netdiag_rec **ret_r, const char *what)
{
	const struct netdiag_rec *r = NULL;
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	*ret_r = NULL;
	if (ie->type != SOCK_RAW && (ie->protocol == IPPROTO_TCP || ie->protocol == IPPROTO_UDP ||
				     ie->protocol == IPPROTO_UDPLITE)) {
		struct netdiag *d = net_dump_diag(ctx);
		if (!d || netdiag_find(d, (int)ie->family, (int)ie->protocol, p->st.st_ino, &r) < 0)
			return -1;
	}
	if (ie->protocol == IPPROTO_TCP) {
		memset(&ti, 0, sizeof(ti));
		if (getsockopt(p->sk, SOL_TCP, TCP_INFO, &ti, &l) < 0) {
			pr_perror("%s: TCP_INFO", what);
			return -1;
		}
		ie->state = ti.tcpi_state;
		if (r && r->has_md5) {
			pr_err("%s has TCP MD5 signature keys (TCP_MD5SIG): they are not carried\n", what);
			errno = ENOTSUP;
			return -1;
		}
		{
			/* TCP-AO (Linux 6.7): getsockopt(TCP_AO_INFO) answers ENOENT on a socket without it */
			uint64_t ao[8] = { 0 };
			socklen_t al = sizeof(ao);
			if (getsockopt(p->sk, SOL_TCP, CR_TCP_AO_INFO, ao, &al) == 0) {
				pr_err("%s has TCP-AO keys (TCP_AO_ADD_KEY): they are not carried\n", what);
				errno = ENOTSUP;
				return -1;
			}
		}
		{
			char ulp[32] = "";
			socklen_t ul = sizeof(ulp) - 1;
			if (getsockopt(p->sk, SOL_TCP, TCP_ULP, ulp, &ul) == 0 && ulp[0]) {
				pr_err("%s runs the TCP upper layer '%s' (kernel TLS...): it is not carried\n", what, ulp);
				errno = ENOTSUP;
				return -1;
			}
		}
		if (ti.tcpi_state == TCP_LISTEN) {
			ie->has_backlog = true;
			ie->backlog = ti.tcpi_sacked; /* sk_max_ack_backlog */
		}
	} else {
		ie->state = ie->has_dst_addr ? TCP_ESTABLISHED : TCP_CLOSE;
	}
	if (r && r->has_shutdown && r->shutdown) {
		ie->has_shutdown = true;
		ie->shutdown = r->shutdown;
	}
	*ret_r = r;
	return 0;
}

static int dump_tcp(struct dump_ctx *ctx, const struct fd_probe *p, InetSkEntry *ie, const struct netdiag_rec *r,
		    const char *what)
{
	const struct cr_options *o = ctx->opts;

	if (ie->state == TCP_LISTEN) {
		uint32_t pending = r ? r->rqueue : 0;
		if (pending && !o->skip_in_flight) {
			pr_err("%s is listening with %u connection(s) not accepted yet: in-flight connections are "
			       "dropped with --skip-in-flight\n", what, pending);
			errno = ENOTSUP;
			return -1;
		}
		if (pending)
			pr_warn("%s: %u connection(s) not accepted yet are dropped (--skip-in-flight)\n", what, pending);
		return 0;
	}
	if (ie->state == TCP_SYN_SENT || ie->state == TCP_SYN_RECV) {
		if (!o->skip_in_flight) {
			pr_err("%s is a connection not established yet (state %u): in-flight connections are dropped "
			       "with --skip-in-flight\n", what, ie->state);
			errno = ENOTSUP;
			return -1;
		}
		pr_warn("%s: a connection not established yet comes back closed (--skip-in-flight)\n", what);
		ie->state = TCP_CLOSE;
		return 0;
	}
	if (!(TCPF(ie->state) & CONN_STATES))
		return 0; /* TCP_CLOSE: a new socket, bound or not */
	if (o->tcp_established)
		return net_dump_repair(ctx, p, ie, what);
	if (o->tcp_close) {
		pr_warn("%s is an established connection: it comes back closed (--tcp-close)\n", what);
		return 0;
	}
	pr_err("%s is an established TCP connection: criu-lite carries it with --tcp-established (or restores it "
	       "closed with --tcp-close)\n", what);
	errno = ENOTSUP;
	return -1;
}

static int inet_dump(struct dump_ctx *ctx, struct fd_probe *p, struct dump_file *f)
{
	InetSkEntry *ie = files_zalloc(sizeof(*ie), "an inet socket entry");
	const struct netdiag_rec *r;
	char what[200];
	int v = 0, sk_type, sk_protocol;
	socklen_t l = sizeof(v);

	if (!ie)
		return -1;
	snprintf(what, sizeof(what), "fd %d of pid %d (inet socket)", p->fd, p->pid);
	if (sko_type_proto(p->sk, &sk_type, &sk_protocol, what) < 0) {
		free(ie);
		return -1;
	}
	inet_sk_entry__init(ie);
	f->fe->inet = ie;
	ie->family = (uint32_t)p->sk_family;
	ie->type = (uint32_t)sk_type;
	ie->protocol = (uint32_t)sk_protocol;
	ie->has_ino = ie->has_flags = true;
	ie->ino = p->st.st_ino;
	ie->flags = p->flags;
	snprintf(what, sizeof(what), "fd %d of pid %d (%s socket)", p->fd, p->pid,
		 proto_name(sk_type, sk_protocol));
	if (!((sk_type == SOCK_STREAM && sk_protocol == IPPROTO_TCP) ||
	      (sk_type == SOCK_DGRAM && (sk_protocol == IPPROTO_UDP || sk_protocol == IPPROTO_UDPLITE ||
					    sk_protocol == IPPROTO_ICMP || sk_protocol == IPPROTO_ICMPV6)) ||
	      sk_type == SOCK_RAW)) {
		pr_err("fd %d of pid %d is a socket of family %d, type %d, protocol %d (MPTCP, SCTP...): criu-lite "
		       "can't carry it\n", p->fd, p->pid, p->sk_family, sk_type, sk_protocol);
		errno = ENOTSUP;
		return -1;
	}
	if (net_dump_check_ns(ctx, p, what) < 0 || dump_names(p->sk, ie, p) < 0)
		return -1;
	if (ie->type == SOCK_RAW && !ie->has_dst_addr && raw_peer(ie, what) < 0)
		return -1;
	describe(what, sizeof(what), p, ie);
	if (dump_state(ctx, p, ie, &r, what) < 0)
		return -1;
	if (ie->family == AF_INET6) {
		if (getsockopt(p->sk, SOL_IPV6, IPV6_V6ONLY, &v, &l) < 0) {
			pr_perror("%s: IPV6_V6ONLY", what);
			return -1;
		}
		ie->has_v6only = true;
		ie->v6only = v;
	}
	{
		struct sko_sock s = { .fd = p->sk, .family = p->sk_family, .type = sk_type,
				      .protocol = sk_protocol,
				      .mask = sko_inet_mask(p->sk_family, sk_type, sk_protocol),
				      .connected = ie->protocol == IPPROTO_TCP && (TCPF(ie->state) & CONN_STATES),
				      .what = what };
		if (sko_dump(&s, &ie->opts) < 0)
			return -1;
	}
	if (ie->protocol == IPPROTO_TCP && ie->type == SOCK_STREAM)
		return dump_tcp(ctx, p, ie, r, what);
	if (r && r->rqueue)
		pr_warn("%s: the %u bytes of datagrams queued are dropped\n", what, r->rqueue);
	if (r && r->wqueue) {
		if (ie->opts && ie->opts->has_udp_cork && ie->opts->udp_cork) {
			pr_err("%s: corked with %u bytes not sent yet: criu-lite can't carry them\n", what, r->wqueue);
			errno = ENOTSUP;
			return -1;
		}
		pr_warn("%s: the %u bytes of datagrams not sent yet are dropped\n", what, r->wqueue);
	}
	return 0;
}

/* ---- restore ---- */

static bool is_conn(const InetSkEntry *ie)
{
	return ie->protocol == IPPROTO_TCP && ie->type == SOCK_STREAM && (TCPF(ie->state) & CONN_STATES);
}

static int inet_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	const InetSkEntry *ie = rf->fe->inet;
	const SkOptsEntry *o = ie->opts;
	cleanup_close int fd = socket((int)ie->family, (int)ie->type | SOCK_CLOEXEC, (int)ie->protocol);
	struct sko_sock s = { .family = (int)ie->family, .type = (int)ie->type, .protocol = (int)ie->protocol,
			      .mask = sko_inet_mask((int)ie->family, (int)ie->type, (int)ie->protocol),
			      .connected = is_conn(ie) };
	struct sockaddr_storage ss;
	socklen_t sl;
	char what[160], a[64];

	snprintf(what, sizeof(what), "file %u (%s%s socket %s)", rf->fe->id, proto_name((int)ie->type, (int)ie->protocol),
		 ie->family == AF_INET6 ? "v6" : "",
		 sko_addr_str((int)ie->family, ie->has_src_addr ? ie->src_addr.data : NULL, ie->src_port, a, sizeof(a)));
	s.what = what;
	if (fd < 0) {
		pr_perror("can't create %s", what);
		return -1;
	}
	s.fd = fd;
	if (ie->family == AF_INET6 && ie->has_v6only) {
		int v = -1;
		socklen_t l = sizeof(v);
		/* only where it differs: a raw socket, bound to its protocol, can't change it */
		if (getsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &v, &l) < 0 || (v != 0) != (ie->v6only != 0)) {
			if (sko_set_int(&s, SOL_IPV6, IPV6_V6ONLY, ie->v6only ? 1 : 0, "IPV6_V6ONLY") < 0)
				return -1;
		}
	}
	if (sko_restore(&s, o) < 0)
		return -1;
	if (is_conn(ie) && ie->tcp && !ctx->opts->tcp_close) {
		if (tcp_stream_restore(fd, ie, what) < 0)
			return -1;
		goto done;
	}
	if (is_conn(ie))
		pr_info("%s: a TCP connection restored closed%s\n", what,
			ctx->opts->tcp_close ? " (--tcp-close)" : " (dumped with --tcp-close)");
	/* sockets of the tree may share a port: bind with SO_REUSEADDR, then the user's */
	if (sko_set_int(&s, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR") < 0 ||
	    (o && o->has_reuseport && o->reuseport && sko_set_int(&s, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT") < 0))
		return -1;
	if (ie->has_bound && ie->bound && !is_conn(ie)) {
		sl = sko_inet_addr(ie, false, &ss);
		if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
			pr_perror("can't bind %s", what);
			return -1;
		}
	}
	if (ie->protocol == IPPROTO_TCP && ie->state == TCP_LISTEN &&
	    listen(fd, ie->has_backlog ? (int)ie->backlog : SOMAXCONN) < 0) {
		pr_perror("can't listen on %s", what);
		return -1;
	}
	if (ie->protocol != IPPROTO_TCP && ie->has_dst_addr) {
		sl = sko_inet_addr(ie, true, &ss);
		if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
			pr_perror("can't connect %s", what);
			return -1;
		}
	}
	if (sko_set_int(&s, SOL_SOCKET, SO_REUSEADDR, o && o->has_reuseaddr ? (int)o->reuseaddr : 0, "SO_REUSEADDR") < 0)
		return -1;
	if (sko_restore_bufs(&s, o) < 0)
		return -1;
	if (ie->has_shutdown && ie->shutdown && !is_conn(ie) &&
	    shutdown(fd, ie->shutdown == 3 ? SHUT_RDWR : ie->shutdown == 2 ? SHUT_WR : SHUT_RD) < 0 &&
	    errno != ENOTCONN) {
		pr_perror("can't shut %s down", what);
		return -1;
	}
done:
	if (files_set_status_flags(fd, ie->has_flags ? ie->flags : 0, what) < 0)
		return -1;
	rf->fd = steal_fd(&fd);
	return 0;
}

const struct fd_ops inet_fd_ops = {
	.name = "inet socket",
	.type = FILE_TYPE_INET,
	.match = inet_match,
	.dump = inet_dump,
	.open = inet_open,
};
