/*
 * TCP sockets that are listening (with no connection waiting to be accepted) or
 * not connected: family, address, backlog, the options servers set (SO_REUSEADDR,
 * SO_REUSEPORT, IPV6_V6ONLY, TCP_NODELAY, SO_KEEPALIVE), flags. Connected TCP
 * sockets, UDP and the other protocols are refused at dump, naming the fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_PREFIX "inet: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"
#include "criu-lite/files/sockdiag.h"

#define TCP_ST_LISTEN 10
#define TCP_ST_CLOSE 7

static bool inet_match(const struct fd_probe *p)
{
	return p->sk >= 0 && (p->sk_family == AF_INET || p->sk_family == AF_INET6);
}

static int get_int(int sk, int level, int opt, int *ret)
{
	socklen_t len = sizeof(*ret);
	return getsockopt(sk, level, opt, ret, &len);
}

static int inet_dump(struct dump_ctx *ctx, struct fd_probe *p, struct dump_file *f)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct inet_diag_info d;
	int type, proto, v;
	SocketEntry *se;
	char what[96];

	(void)ctx;
	snprintf(what, sizeof(what), "fd %d of pid %d (socket:[%" PRIu64 "])", p->fd, p->pid, (uint64_t)p->st.st_ino);
	if (get_int(p->sk, SOL_SOCKET, SO_TYPE, &type) < 0 || get_int(p->sk, SOL_SOCKET, SO_PROTOCOL, &proto) < 0) {
		pr_perror("can't get the type of %s", what);
		return -1;
	}
	if (type != SOCK_STREAM || proto != IPPROTO_TCP) {
		pr_err("%s is an %s %s socket: criu-lite can't carry it (only TCP sockets that listen or are not "
		       "connected)\n", what, p->sk_family == AF_INET ? "IPv4" : "IPv6",
		       proto == IPPROTO_UDP ? "UDP" : type == SOCK_RAW ? "raw" : "non-TCP");
		errno = ENOTSUP;
		return -1;
	}
	if (sockdiag_inet_find(p->sk_family, IPPROTO_TCP, (uint32_t)p->st.st_ino, &d) < 0)
		return -1;
	if (d.state != TCP_ST_LISTEN && d.state != TCP_ST_CLOSE) {
		pr_err("%s is a TCP connection (state %u): criu-lite can't carry it yet (--tcp-established "
		       "is for the network issue)\n", what, d.state);
		errno = ENOTSUP;
		return -1;
	}
	if (d.state == TCP_ST_LISTEN && d.rqueue) {
		pr_err("%s is a listening TCP socket with %u connection(s) not accepted yet: criu-lite can't carry "
		       "them\n", what, d.rqueue);
		errno = ENOTSUP;
		return -1;
	}
	if (getsockname(p->sk, (struct sockaddr *)&ss, &sl) < 0) {
		pr_perror("can't get the address of %s", what);
		return -1;
	}
	se = files_zalloc(sizeof(*se), "a socket entry");
	if (!se)
		return -1;
	socket_entry__init(se);
	f->fe->socket = se;
	se->family = p->sk_family;
	se->type = type;
	se->has_protocol = se->has_state = se->has_ino = se->has_flags = true;
	se->protocol = proto;
	se->state = d.state;
	se->ino = p->st.st_ino;
	se->flags = p->flags;
	if (d.state == TCP_ST_LISTEN) {
		se->has_backlog = true;
		se->backlog = d.wqueue;
	}
	se->has_src_addr = true;
	se->src_addr.len = sl;
	se->src_addr.data = malloc(sl);
	if (!se->src_addr.data) {
		pr_perror("can't copy an address");
		return -1;
	}
	memcpy(se->src_addr.data, &ss, sl);
	se->has_reuseaddr = se->has_reuseport = se->has_nodelay = se->has_keepalive = true;
	if (get_int(p->sk, SOL_SOCKET, SO_REUSEADDR, &v) < 0)
		goto err;
	se->reuseaddr = v;
	if (get_int(p->sk, SOL_SOCKET, SO_REUSEPORT, &v) < 0)
		goto err;
	se->reuseport = v;
	if (get_int(p->sk, IPPROTO_TCP, TCP_NODELAY, &v) < 0)
		goto err;
	se->nodelay = v;
	if (get_int(p->sk, SOL_SOCKET, SO_KEEPALIVE, &v) < 0)
		goto err;
	se->keepalive = v;
	if (p->sk_family == AF_INET6) {
		if (get_int(p->sk, IPPROTO_IPV6, IPV6_V6ONLY, &v) < 0)
			goto err;
		se->has_v6only = true;
		se->v6only = v;
	}
	return 0;
err:
	pr_perror("can't read the options of %s", what);
	return -1;
}

static bool bound(const SocketEntry *se)
{
	if (!se->has_src_addr)
		return false;
	if (se->family == AF_INET && se->src_addr.len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *a = (const void *)se->src_addr.data;
		return a->sin_port || a->sin_addr.s_addr;
	}
	if (se->family == AF_INET6 && se->src_addr.len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *a = (const void *)se->src_addr.data;
		static const struct in6_addr any = IN6ADDR_ANY_INIT;
		return a->sin6_port || memcmp(&a->sin6_addr, &any, sizeof(any));
	}
	return false;
}

static int set_int(int fd, int level, int opt, int v, const char *name, const char *what)
{
	if (setsockopt(fd, level, opt, &v, sizeof(v)) < 0) {
		pr_perror("can't set %s of %s", name, what);
		return -1;
	}
	return 0;
}

static int inet_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	const SocketEntry *se = rf->fe->socket;
	cleanup_close int fd = socket((int)se->family, (int)se->type | SOCK_CLOEXEC, (int)se->protocol);
	char what[64];

	(void)ctx;
	snprintf(what, sizeof(what), "socket:[%" PRIu64 "]", se->ino);
	if (fd < 0) {
		pr_perror("can't create %s", what);
		return -1;
	}
	if ((se->has_v6only && se->v6only && set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", what) < 0) ||
	    (se->reuseport && set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT", what) < 0) ||
	    (se->nodelay && set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY", what) < 0) ||
	    (se->keepalive && set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE", what) < 0))
		return -1;
	if (bound(se)) {
		/* its port may still have connections in TIME_WAIT: SO_REUSEADDR for the bind,
		 * then the socket's own value */
		if (set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", what) < 0)
			return -1;
		if (bind(fd, (const struct sockaddr *)se->src_addr.data, (socklen_t)se->src_addr.len) < 0) {
			pr_perror("can't bind %s to its address again", what);
			return -1;
		}
		if (!se->reuseaddr && set_int(fd, SOL_SOCKET, SO_REUSEADDR, 0, "SO_REUSEADDR", what) < 0)
			return -1;
	} else if (se->reuseaddr && set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", what) < 0) {
		return -1;
	}
	if (se->state == TCP_ST_LISTEN && listen(fd, se->has_backlog ? (int)se->backlog : SOMAXCONN) < 0) {
		pr_perror("can't listen on %s", what);
		return -1;
	}
	if (files_set_status_flags(fd, se->has_flags ? se->flags : 0, what) < 0)
		return -1;
	rf->fd = steal_fd(&fd);
	return 0;
}

const struct fd_ops inet_fd_ops = {
	.name = "TCP socket",
	.type = FILE_TYPE_INET,
	.match = inet_match,
	.dump = inet_dump,
	.open = inet_open,
};
