/* The network kinds' shared state across a dump or a restore (see net.h). */
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

#define LOG_PREFIX "net: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"
#include "criu-lite/files/net.h"
#include "criu-lite/files/netdiag.h"
#include "criu-lite/files/sockopt.h"
#include "criu-lite/files/tcp.h"
#include "criu-lite/netlock.h"
#include "criu-lite/ns/sockns.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* A socket of the tree in repair mode: criu-lite's copy of it. */
struct net_repaired {
	int fd;
	bool reuseaddr; /* the user's SO_REUSEADDR (repair mode's end clears it) */
	char what[96];
};

struct net_dump {
	struct netdiag *diag;
	uint64_t ns_cookie;     /* criu-lite's network namespace */
	bool has_cookie;
	int method;             /* NETLOCK_*: asked for */
	bool private_ns;        /* the tree's own net namespace: no lock (ns_dump_net_private) */
	int used;               /* ... and as taken (NETLOCK_IPTABLES_LEGACY), for the unlock */
	char table[32];
	struct netlock_conn *conns; /* locked */
	uint64_t *conn_inos;
	size_t nr_conns, cap_conns;
	struct net_repaired *rep;
	size_t nr_rep, cap_rep;
};

static struct net_dump *nd_of(struct dump_ctx *ctx)
{
	if (!ctx->net) {
		ctx->net = calloc(1, sizeof(*ctx->net));
		if (!ctx->net) {
			pr_perror("can't allocate the network state");
			return NULL;
		}
		ctx->net->method = ctx->net->used = ctx->opts->network_lock;
		if (ns_dump_net_private(ctx)) {
			ctx->net->private_ns = true;
			ctx->net->method = ctx->net->used = NETLOCK_SKIP;
		}
		netlock_table_name(ctx->opts->tree, ctx->net->table, sizeof(ctx->net->table));
	}
	return ctx->net;
}

struct netdiag *net_dump_diag(struct dump_ctx *ctx)
{
	struct net_dump *nd = nd_of(ctx);

	if (nd && !nd->diag) {
		/* sock_diag answers for the namespace its socket is made in: the tree's */
		int back = ns_dump_net_enter(ctx);
		struct netdiag *d = back == -2 ? NULL : netdiag_new();
		if (d && netdiag_connect(d) < 0) {
			netdiag_free(d);
			d = NULL;
		}
		ns_net_leave(back);
		nd->diag = d;
	}
	return nd ? nd->diag : NULL;
}

int net_dump_check_ns(struct dump_ctx *ctx, const struct fd_probe *p, const char *what)
{
	struct net_dump *nd = nd_of(ctx);
	uint64_t c = 0;
	socklen_t l = sizeof(c);

	if (!nd)
		return -1;
	if (!nd->has_cookie) {
		int back = ns_dump_net_enter(ctx);
		cleanup_close int s = back == -2 ? -1 : socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		socklen_t ol = sizeof(nd->ns_cookie);
		ns_net_leave(back);
		if (s < 0 || getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, &nd->ns_cookie, &ol) < 0) {
			pr_perror("can't get the cookie of the tree's network namespace");
			return -1;
		}
		nd->has_cookie = true;
	}
	if (getsockopt(p->sk, SOL_SOCKET, SO_NETNS_COOKIE, &c, &l) < 0) {
		pr_perror("%s: can't get its network namespace", what);
		return -1;
	}
	if (c != nd->ns_cookie) {
		pr_err("%s lives in a network namespace other than the tree's root's: it could not be made "
		       "again there\n", what);
		errno = ENOTSUP;
		return -1;
	}
	return 0;
}

/* ---- the lock ---- */

static bool v4_mapped(const uint8_t *a)
{
	static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return !memcmp(a, pfx, 12);
}

/* A connection as the lock sees it: a v4-mapped IPv6 connection is IPv4. */
static struct netlock_conn conn_of(int family, const uint8_t *src, uint16_t sport, const uint8_t *dst,
				   uint16_t dport)
{
	struct netlock_conn c = { .family = family, .sport = sport, .dport = dport };

	if (family == AF_INET6 && v4_mapped(src) && v4_mapped(dst)) {
		c.family = AF_INET;
		memcpy(c.src, src + 12, 4);
		memcpy(c.dst, dst + 12, 4);
	} else {
		memcpy(c.src, src, family == AF_INET ? 4 : 16);
		memcpy(c.dst, dst, family == AF_INET ? 4 : 16);
	}
	return c;
}

static bool conn_known(const struct net_dump *nd, uint64_t ino)
{
	for (size_t i = 0; i < nd->nr_conns; i++)
		if (nd->conn_inos[i] == ino)
			return true;
	return false;
}

static int conn_add(struct net_dump *nd, uint64_t ino, const struct netlock_conn *c)
{
	if (nd->nr_conns == nd->cap_conns) {
		size_t ncap = nd->cap_conns ? nd->cap_conns * 2 : 16;
		struct netlock_conn *n = realloc(nd->conns, ncap * sizeof(*n));
		uint64_t *ni;
		if (!n) {
			pr_perror("can't grow the connection list");
			return -1;
		}
		nd->conns = n;
		ni = realloc(nd->conn_inos, ncap * sizeof(*ni));
		if (!ni) {
			pr_perror("can't grow the connection list");
			return -1;
		}
		nd->conn_inos = ni;
		nd->cap_conns = ncap;
	}
	nd->conns[nd->nr_conns] = *c;
	nd->conn_inos[nd->nr_conns++] = ino;
	return 0;
}

#define TCPF(s) (1u << (s))
#define CONN_STATES                                                                                    \
	(TCPF(TCP_ESTABLISHED) | TCPF(TCP_FIN_WAIT1) | TCPF(TCP_FIN_WAIT2) | TCPF(TCP_CLOSE_WAIT) |        \
	 TCPF(TCP_LAST_ACK) | TCPF(TCP_CLOSING))

/* One fd of the tree: a TCP socket to refuse, or to lock? */
static int prepass_fd(struct dump_ctx *ctx, struct net_dump *nd, pid_t pid, int fd, uint64_t ino)
{
	const struct cr_options *o = ctx->opts;
	const struct netdiag_rec *r = NULL;
	char a[80], b[80];
	int family = 0;

	for (int f = 0; f < 2 && !r; f++) {
		family = f ? AF_INET6 : AF_INET;
		if (netdiag_find(nd->diag, family, IPPROTO_TCP, ino, &r) < 0)
			return -1;
	}
	if (!r)
		return 0;
	sko_addr_str(family, r->src, r->sport, a, sizeof(a));
	sko_addr_str(family, r->dst, r->dport, b, sizeof(b));
	if (r->state == TCP_LISTEN && r->rqueue && !o->skip_in_flight) {
		pr_err("fd %d of pid %d is a TCP listener on %s with %u connection(s) not accepted yet: in-flight "
		       "connections are dropped with --skip-in-flight\n", fd, pid, a, r->rqueue);
		errno = ENOTSUP;
		return -1;
	}
	if ((r->state == TCP_SYN_SENT || r->state == TCP_SYN_RECV) && !o->skip_in_flight) {
		pr_err("fd %d of pid %d is a TCP connection from %s to %s not established yet (state %u): in-flight "
		       "connections are dropped with --skip-in-flight\n", fd, pid, a, b, r->state);
		errno = ENOTSUP;
		return -1;
	}
	if (!(TCPF(r->state) & CONN_STATES))
		return 0;
	if (!o->tcp_established && !o->tcp_close) {
		pr_err("fd %d of pid %d is an established TCP connection from %s to %s: criu-lite carries it with "
		       "--tcp-established (or restores it closed with --tcp-close)\n", fd, pid, a, b);
		errno = ENOTSUP;
		return -1;
	}
	if (!o->tcp_established || conn_known(nd, ino))
		return 0;
	struct netlock_conn c = conn_of(family, r->src, r->sport, r->dst, r->dport);
	return conn_add(nd, ino, &c);
}

int net_dump_lock(struct dump_ctx *ctx)
{
	struct net_dump *nd;
	size_t nsock = 0;

	for (size_t i = 0; i < ctx->tree.nr_tasks; i++) {
		pid_t pid = ctx->tree.tasks[i].pid;
		cleanup_free int *fds = NULL;
		char path[64];
		size_t nr;

		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
		if (proc_list_dir_ints(path, &fds, &nr) < 0)
			return -1;
		for (size_t k = 0; k < nr; k++) {
			char link[PROC_PATH_MAX];
			uint64_t ino;
			snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fds[k]);
			if (proc_readlink(path, link, sizeof(link)) < 0)
				return -1;
			if (strncmp(link, "socket:[", 8) || sscanf(link + 8, "%" SCNu64, &ino) != 1)
				continue;
			nsock++;
			if (!net_dump_diag(ctx))
				return -1;
			if (prepass_fd(ctx, ctx->net, pid, fds[k], ino) < 0)
				return -1;
		}
	}
	nd = ctx->net;
	if (!nsock || !nd || !nd->nr_conns)
		return 0;
	if (nd->private_ns) {
		pr_info("%zu TCP connection(s) in the tree's own network namespace: nothing outside the tree "
			"reaches them, no lock\n", nd->nr_conns);
		return 0;
	}
	if (nd->method == NETLOCK_SKIP) {
		pr_info("%zu TCP connection(s) not locked (--network-lock skip)\n", nd->nr_conns);
		return 0;
	}
	int back = ns_dump_net_enter(ctx), r = back == -2 ? -1 : 0;
	if (r == 0)
		r = netlock_lock(nd->method, nd->table, nd->conns, nd->nr_conns, &nd->used);
	ns_net_leave(back);
	if (r < 0) {
		nd->nr_conns = 0;
		return -1;
	}
	return 0;
}

int net_dump_repair(struct dump_ctx *ctx, const struct fd_probe *p, InetSkEntry *ie, const char *what)
{
	struct net_dump *nd = nd_of(ctx);
	struct net_repaired *r;
	int v = 0;
	socklen_t l = sizeof(v);

	if (!nd)
		return -1;
	/* a connection that came up after the lock was taken is locked now */
	if (!conn_known(nd, p->st.st_ino)) {
		struct netlock_conn c = conn_of((int)ie->family, ie->src_addr.data, (uint16_t)ie->src_port,
						ie->dst_addr.data, (uint16_t)ie->dst_port);
		int used = nd->used, back = nd->method != NETLOCK_SKIP ? ns_dump_net_enter(ctx) : -1;
		int r = back == -2 ? -1 : 0;
		if (r == 0 && nd->method != NETLOCK_SKIP)
			r = netlock_lock(nd->method, nd->table, &c, 1, &used);
		ns_net_leave(back);
		if (r < 0)
			return -1;
		/* taken as the others were, for one unlock (the first lock of the dump sets it) */
		if (!nd->nr_conns)
			nd->used = used;
		if (used != nd->used || conn_add(nd, p->st.st_ino, &c) < 0) {
			if (nd->method != NETLOCK_SKIP) {
				back = ns_dump_net_enter(ctx);
				if (back != -2)
					netlock_unlock(used, nd->table, &c, 1);
				ns_net_leave(back);
			}
			if (used != nd->used)
				pr_err("%s: locked by another method than the tree's other connections\n", what);
			return -1;
		}
	}
	if (nd->nr_rep == nd->cap_rep) {
		size_t ncap = nd->cap_rep ? nd->cap_rep * 2 : 16;
		struct net_repaired *n = realloc(nd->rep, ncap * sizeof(*n));
		if (!n) {
			pr_perror("can't grow the repaired socket list");
			return -1;
		}
		nd->rep = n;
		nd->cap_rep = ncap;
	}
	if (getsockopt(p->sk, SOL_SOCKET, SO_REUSEADDR, &v, &l) < 0) {
		pr_perror("%s: SO_REUSEADDR", what);
		return -1;
	}
	r = &nd->rep[nd->nr_rep];
	r->fd = fcntl(p->sk, F_DUPFD_CLOEXEC, 3);
	if (r->fd < 0) {
		pr_perror("%s: can't keep a copy", what);
		return -1;
	}
	r->reuseaddr = v;
	snprintf(r->what, sizeof(r->what), "%s", what);
	if (tcp_repair(r->fd, 1, what) < 0) {
		close(r->fd);
		return -1;
	}
	nd->nr_rep++;
	if (tcp_stream_dump(r->fd, &ie->tcp, what) < 0)
		return -1;
	if (nd->method != NETLOCK_SKIP) {
		ie->has_netlock = true;
		ie->netlock = (uint32_t)nd->used;
		if (nd->method == NETLOCK_NFTABLES) {
			ie->netlock_table = strdup(nd->table);
			if (!ie->netlock_table) {
				pr_perror("can't copy the lock's table name");
				return -1;
			}
		}
	}
	return 0;
}

int net_dump_release(struct dump_ctx *ctx, bool resumed)
{
	struct net_dump *nd = ctx->net;
	int ret = 0;

	if (!nd)
		return 0;
	for (size_t i = 0; i < nd->nr_rep; i++) {
		struct net_repaired *r = &nd->rep[i];
		if (resumed) {
			int v = r->reuseaddr;
			if (tcp_repair(r->fd, TCP_REPAIR_OFF, r->what) < 0)
				ret = -1;
			else if (v && setsockopt(r->fd, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)) < 0) {
				pr_perror("%s: can't set SO_REUSEADDR back", r->what);
				ret = -1;
			}
		}
		/* killed: still in repair mode, the socket goes away without a word */
		close(r->fd);
	}
	nd->nr_rep = 0;
	if (resumed && nd->nr_conns && nd->method != NETLOCK_SKIP) {
		int back = ns_dump_net_enter(ctx);
		if (back == -2 || netlock_unlock(nd->used, nd->table, nd->conns, nd->nr_conns) < 0)
			ret = -1;
		ns_net_leave(back);
	}
	if (!resumed && nd->nr_conns && nd->method != NETLOCK_SKIP)
		pr_info("%zu TCP connection(s) stay locked until they are restored\n", nd->nr_conns);
	nd->nr_conns = 0;
	return ret;
}

void net_dump_fini(struct dump_ctx *ctx)
{
	struct net_dump *nd = ctx->net;

	if (!nd)
		return;
	for (size_t i = 0; i < nd->nr_rep; i++)
		close(nd->rep[i].fd);
	netdiag_free(nd->diag);
	free(nd->rep);
	free(nd->conns);
	free(nd->conn_inos);
	free(nd);
	ctx->net = NULL;
}

/* ---- restore ---- */

/* Lift the lock of every connection the images name. 0 or -1 (logged). */
static int restore_unlock(struct rst_ctx *ctx)
{
	int ret = 0;

	if (ctx->net_unlocked)
		return 0;
	ctx->net_unlocked = true;
	static const int methods[] = { NETLOCK_IPTABLES, NETLOCK_NFTABLES, NETLOCK_IPTABLES_LEGACY };

	for (size_t k = 0; k < ARRAY_SIZE(methods); k++) {
		int method = methods[k];
		cleanup_free struct netlock_conn *c = NULL;
		const char *table = NULL;
		size_t n = 0;

		for (size_t i = 0; i < ctx->img.nr_files; i++) {
			const InetSkEntry *ie = ctx->img.files[i]->inet;
			if (ctx->img.files[i]->type != FILE_TYPE_INET || !ie || !ie->has_netlock ||
			    ie->netlock != (uint32_t)method || !ie->has_src_addr || !ie->has_dst_addr)
				continue;
			if (!c) {
				c = calloc(ctx->img.nr_files, sizeof(*c));
				if (!c) {
					pr_perror("can't allocate the connection list");
					return -1;
				}
			}
			c[n++] = conn_of((int)ie->family, ie->src_addr.data, (uint16_t)ie->src_port, ie->dst_addr.data,
					 (uint16_t)ie->dst_port);
			if (ie->netlock_table)
				table = ie->netlock_table;
		}
		if (!n)
			continue;
		if (method == NETLOCK_NFTABLES && !table) {
			pr_err("files.img: connections locked with nftables name no table\n");
			ret = -1;
			continue;
		}
		int back = ns_rst_net_enter(ctx);
		if (back == -2 || netlock_unlock(method, table, c, n) < 0)
			ret = -1;
		ns_net_leave(back);
	}
	return ret;
}

int net_restore_resume(struct rst_ctx *ctx)
{
	int ret = restore_unlock(ctx);

	for (size_t i = 0; ctx->rfiles && i < ctx->img.nr_files; i++) {
		const struct rst_file *rf = &ctx->rfiles[i];
		const InetSkEntry *ie = rf->fe->inet;
		char what[96];

		if (rf->fe->type != FILE_TYPE_INET || !ie || !ie->tcp || rf->fd < 0 || ctx->opts->tcp_close)
			continue;
		snprintf(what, sizeof(what), "TCP connection (file %u)", rf->fe->id);
		if (tcp_stream_resume(rf->fd, ie, what) < 0)
			ret = -1;
		else {
			struct sko_sock s = { .fd = rf->fd, .family = (int)ie->family, .type = (int)ie->type,
					      .protocol = (int)ie->protocol, .what = what };
			if (sko_restore_bufs(&s, ie->opts) < 0)
				ret = -1;
		}
	}
	return ret;
}

void net_restore_fini(struct rst_ctx *ctx)
{
	if (ctx->img.files)
		restore_unlock(ctx);
}
