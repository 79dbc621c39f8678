/*
 * Unix sockets: stream, datagram and seqpacket; unbound, bound to a path or an
 * abstract name (also a path since removed); listening, with the connections not
 * accepted yet; connected pairs, half-closed connections; shutdown state; the
 * options programs set; the messages queued, with their senders' addresses and
 * credentials and the fds they carry (SCM_RIGHTS).
 *
 * Dump: sock_diag (sockdiag.c) gives each socket's name, peer, pending connections
 * and shutdown state; a copy of the socket (pidfd_getfd) its options and queue,
 * read without consuming it (MSG_PEEK from offset 0 with SO_PEEK_OFF, which then
 * gets its old value back). An fd in flight is received into criu-lite and dumped
 * like the tasks' fds. A peer outside the tree is refused unless --ext-unix-sk.
 * A connection not accepted yet is reconnected at restore; when its client sent data
 * already, the data is only reachable by accepting it, which criu-lite does at the
 * end of a dump that kills the tree (and refuses with --leave-running).
 *
 * Restore: every unix socket of the tree is one object (built together in criu-lite):
 * listeners first, then the connected pairs (socketpair(), or connect() + accept()
 * through the listener of their name, so that the names come back), the pending
 * connections in their order, the rest. Once every task exists (fill): the queues,
 * sent again by their senders (the peer, a socket of the tree with the sender's
 * name, or one made for it) with the senders' credentials; then the connections of
 * datagram sockets, the options, the shutdowns, and names that were removed go again.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#define LOG_PREFIX "unix: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"
#include "criu-lite/files/sockdiag.h"
#include "criu-lite/ns/pid.h"
#include "criu-lite/ns/sockns.h"

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif

#define TCP_ESTABLISHED 1
#define TCP_CLOSE 7
#define TCP_LISTEN 10
#define RCV_SHUTDOWN 1
#define SEND_SHUTDOWN 2

#define FILL_SNDBUF (8u << 20) /* senders' buffers while queues are filled */
#define MAX_FDS_MSG 253        /* SCM_MAX_FD */

struct unix_dump {
	int sk; /* our copy of the socket */
};

/* ---- dump ---- */

static bool unix_match(const struct fd_probe *p)
{
	return p->sk >= 0 && p->sk_family == AF_UNIX;
}

static int opt_int(int sk, int opt, int *ret)
{
	socklen_t len = sizeof(*ret);
	return getsockopt(sk, SOL_SOCKET, opt, ret, &len);
}

static int opt_us(int sk, int opt, uint64_t *ret)
{
	struct timeval tv;
	socklen_t len = sizeof(tv);

	if (getsockopt(sk, SOL_SOCKET, opt, &tv, &len) < 0)
		return -1;
	*ret = (uint64_t)tv.tv_sec * 1000000 + tv.tv_usec;
	return 0;
}

/* A path name (not abstract, not empty) as a C string. */
static bool path_of(const uint8_t *name, size_t len, char *buf, size_t size)
{
	if (!len || !name[0] || len >= size)
		return false;
	memcpy(buf, name, len);
	buf[len] = '\0';
	return true;
}

static int dump_options(int sk, SocketEntry *se, const char *what)
{
	int v, lock = 0;
	socklen_t len = sizeof(v);

	se->has_passcred = se->has_passsec = se->has_peek_off = se->has_rcvbuf = se->has_sndbuf = true;
	se->has_rcvtimeo_us = se->has_sndtimeo_us = se->has_rcvlowat = true;
	if (opt_int(sk, SO_PASSCRED, &v) < 0)
		goto err;
	se->passcred = v;
	if (opt_int(sk, SO_PASSSEC, &v) < 0)
		goto err;
	se->passsec = v;
	if (opt_int(sk, SO_PASSPIDFD, &v) == 0) {
		se->has_passpidfd = true;
		se->passpidfd = v;
	}
	if (opt_int(sk, SO_PEEK_OFF, &v) < 0)
		goto err;
	se->peek_off = v;
	if (opt_int(sk, SO_RCVBUF, &v) < 0)
		goto err;
	se->rcvbuf = v;
	if (opt_int(sk, SO_SNDBUF, &v) < 0)
		goto err;
	se->sndbuf = v;
	if (opt_int(sk, SO_RCVLOWAT, &v) < 0)
		goto err;
	se->rcvlowat = v;
	if (opt_us(sk, SO_RCVTIMEO, &se->rcvtimeo_us) < 0 || opt_us(sk, SO_SNDTIMEO, &se->sndtimeo_us) < 0)
		goto err;
	/* set by the program, or the kernel's default? a fresh socket tells */
	{
		cleanup_close int fresh = socket(AF_UNIX, (int)se->type | SOCK_CLOEXEC, 0);
		int r, s;
		if (fresh >= 0 && opt_int(fresh, SO_RCVBUF, &r) == 0 && opt_int(fresh, SO_SNDBUF, &s) == 0) {
			se->has_rcvbuf_set = se->has_sndbuf_set = true;
			se->rcvbuf_set = r != (int)se->rcvbuf;
			se->sndbuf_set = s != (int)se->sndbuf;
		}
	}
	(void)len;
	(void)lock;
	return 0;
err:
	pr_perror("can't read the options of %s", what);
	return -1;
}

/* Close the fds an SCM_RIGHTS of mh brought. */
static void close_rights(struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); k++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
				close(fd);
			}
}

/* Peek the queue of our copy sk of the socket f, without consuming it: records in
 * file-data.img for f (to_peer: the queue of f's pending connection), and the fds in
 * flight to describe. */
static int peek_queue(struct dump_ctx *ctx, int sk, const struct dump_file *f, bool stream, bool to_peer,
		      uint64_t queued, const char *what)
{
	uint64_t got = 0;
	int old_off = -1, passcred = 0, zero = 0, one = 1, avail = 0;
	cleanup_free uint8_t *buf = NULL;
	size_t cap = 0;
	int ret = -1;

	if (opt_int(sk, SO_PEEK_OFF, &old_off) < 0 || opt_int(sk, SO_PASSCRED, &passcred) < 0) {
		pr_perror("can't read the options of %s", what);
		return -1;
	}
	if (setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) < 0 ||
	    (!passcred && setsockopt(sk, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)) {
		pr_perror("can't prepare %s for reading its queue", what);
		goto out;
	}
	for (;;) {
		char cbuf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(MAX_FDS_MSG * sizeof(int))];
		struct sockaddr_un from;
		struct iovec iov = { NULL, 0 };
		struct msghdr mh;
		FileDataEntry *rec;
		ssize_t n = 0, want;

		memset(&mh, 0, sizeof(mh));
		memset(&from, 0, sizeof(from));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_name = &from;
		mh.msg_namelen = sizeof(from);
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		if (stream) {
			/* as much as is queued: a read stops where the senders or fds change */
			if (ioctl(sk, FIONREAD, &avail) < 0) {
				pr_perror("FIONREAD on %s", what);
				goto out;
			}
			want = avail;
		} else {
			/* a datagram's length: a peek of 0 bytes does not move the offset (but it
			 * passes an empty datagram, which it reads whole: name and all) */
			n = recvmsg(sk, &mh, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
			if (n < 0 && errno == EAGAIN)
				break;
			if (n < 0) {
				pr_perror("can't read the queue of %s", what);
				goto out;
			}
			/* a seqpacket socket whose peer shut down reads EOF (0) once its queue is read */
			if (n == 0 && got >= queued && f->fe->socket->type == SOCK_SEQPACKET &&
			    (f->fe->socket->shutdown & RCV_SHUTDOWN))
				break;
			want = n;
			if (want) {
				close_rights(&mh);
				mh.msg_namelen = sizeof(from);
				mh.msg_controllen = sizeof(cbuf);
			}
		}
		if ((size_t)want > cap) {
			uint8_t *nb = realloc(buf, want);
			if (!nb) {
				pr_perror("can't allocate %zd bytes for the queue of %s", want, what);
				goto out;
			}
			buf = nb;
			cap = want;
		}
		if (stream || want) {
			iov = (struct iovec){ buf, want };
			n = recvmsg(sk, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
			if (n < 0 && errno == EAGAIN && stream)
				break;
			if (n < 0) {
				pr_perror("can't read the queue of %s", what);
				goto out;
			}
			if (stream && n == 0)
				break; /* EOF: the peer shut down its writing */
		}
		if (mh.msg_flags & MSG_CTRUNC) {
			pr_err("%s: a queued message carries more fds than criu-lite reads at once\n", what);
			close_rights(&mh);
			errno = E2BIG;
			goto out;
		}
		rec = files_zalloc(sizeof(*rec), "a queued message");
		if (!rec)
			goto out;
		file_data_entry__init(rec);
		rec->file_id = f->id;
		if (to_peer) {
			rec->has_to_peer = true;
			rec->to_peer = true;
		}
		if (dump_file_data_add(ctx, rec) < 0)
			goto out;
		rec->has_data = true;
		rec->data.len = n;
		rec->data.data = malloc(n ? n : 1);
		if (!rec->data.data) {
			pr_perror("can't copy a queued message");
			goto out;
		}
		memcpy(rec->data.data, buf, n);
		if (!stream && mh.msg_namelen > offsetof(struct sockaddr_un, sun_path)) {
			size_t al = mh.msg_namelen - offsetof(struct sockaddr_un, sun_path);
			rec->has_addr = true;
			rec->addr.len = al;
			rec->addr.data = malloc(al);
			if (!rec->addr.data) {
				pr_perror("can't copy an address");
				goto out;
			}
			memcpy(rec->addr.data, from.sun_path, al);
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET)
				continue;
			if (c->cmsg_type == SCM_CREDENTIALS) {
				struct ucred uc;
				memcpy(&uc, CMSG_DATA(c), sizeof(uc));
				if (!uc.pid)
					continue; /* sent with nobody asking for credentials: it has none */
				rec->has_creds = rec->has_pid = rec->has_uid = rec->has_gid = true;
				rec->creds = true;
				rec->pid = uc.pid;
				rec->uid = uc.uid;
				rec->gid = uc.gid;
			} else if (c->cmsg_type == SCM_RIGHTS) {
				size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				uint32_t *ids = calloc(nfd ? nfd : 1, sizeof(*ids));
				int fds[MAX_FDS_MSG];
				if (!ids) {
					pr_perror("can't note the fds in flight");
					goto out;
				}
				memcpy(fds, CMSG_DATA(c), nfd * sizeof(int));
				rec->fds = ids;
				rec->n_fds = nfd;
				for (size_t k = 0; k < nfd; k++)
					if (dump_inflight_add(ctx, fds[k], &ids[k]) < 0) {
						for (size_t j = k + 1; j < nfd; j++)
							close(fds[j]);
						goto out;
					}
			}
		}
		got += n;
		pr_debug("%s: queued message of %zd bytes, %zu fds\n", what, n, rec->n_fds);
	}
	ret = 0;
out:
	/* the socket as it was */
	if (setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &old_off, sizeof(old_off)) < 0 ||
	    (!passcred && setsockopt(sk, SOL_SOCKET, SO_PASSCRED, &passcred, sizeof(passcred)) < 0)) {
		pr_perror("can't put back the options of %s", what);
		ret = -1;
	}
	return ret;
}

static int unix_dump(struct dump_ctx *ctx, struct fd_probe *p, struct dump_file *f)
{
	const struct unix_diag_info *d;
	struct unix_dump *ud;
	SocketEntry *se;
	char what[96], path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	int type;

	snprintf(what, sizeof(what), "fd %d of pid %d (socket:[%" PRIu64 "])", p->fd, p->pid,
		 (uint64_t)p->st.st_ino);
	if (!ctx->sockdiag) {
		/* sock_diag answers for the namespace its socket is made in: the tree's */
		int back = ns_dump_net_enter(ctx);
		ctx->sockdiag = back == -2 ? NULL : sockdiag_unix_load();
		ns_net_leave(back);
		if (!ctx->sockdiag)
			return -1;
	}
	d = sockdiag_unix_find(ctx->sockdiag, (uint32_t)p->st.st_ino);
	if (!d) {
		pr_err("%s: sock_diag does not know it\n", what);
		errno = ENOENT;
		return -1;
	}
	if (opt_int(p->sk, SO_TYPE, &type) < 0) {
		pr_perror("can't get the type of %s", what);
		return -1;
	}
	ud = files_zalloc(sizeof(*ud), "a socket's dump state");
	se = files_zalloc(sizeof(*se), "a socket entry");
	if (!ud || !se) {
		free(ud);
		free(se);
		return -1;
	}
	ud->sk = steal_fd(&p->sk);
	f->priv = ud;
	socket_entry__init(se);
	f->fe->socket = se;
	se->family = AF_UNIX;
	se->type = (uint32_t)type;
	se->has_state = se->has_ino = se->has_peer_ino = se->has_flags = se->has_shutdown = true;
	se->state = d->state;
	se->ino = d->ino;
	se->peer_ino = d->peer;
	se->flags = p->flags;
	se->shutdown = d->shutdown;
	if (d->name_len) {
		se->has_src_addr = true;
		se->src_addr.len = d->name_len;
		se->src_addr.data = malloc(d->name_len);
		if (!se->src_addr.data) {
			pr_perror("can't copy a socket name");
			return -1;
		}
		memcpy(se->src_addr.data, d->name, d->name_len);
	}
	if (d->state == TCP_LISTEN) {
		se->has_backlog = true;
		se->backlog = d->wqueue;
		if (d->nr_icons) {
			se->icons = malloc(d->nr_icons * sizeof(*se->icons));
			if (!se->icons) {
				pr_perror("can't copy the pending connections");
				return -1;
			}
			for (uint32_t i = 0; i < d->nr_icons; i++)
				se->icons[i] = d->icons[i];
			se->n_icons = d->nr_icons;
		}
	}
	if (d->has_vfs && path_of(d->name, d->name_len, path, sizeof(path))) {
		struct stat st;
		dev_t dev = makedev(d->vfs_dev >> 20, d->vfs_dev & 0xfffff);
		se->has_vfs_ino = se->has_vfs_dev = se->has_name_gone = true;
		se->vfs_ino = d->vfs_ino;
		se->vfs_dev = dev;
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == d->vfs_ino && st.st_dev == dev) {
			se->has_vfs_mode = se->has_vfs_uid = se->has_vfs_gid = true;
			se->vfs_mode = st.st_mode & 07777;
			se->vfs_uid = st.st_uid;
			se->vfs_gid = st.st_gid;
		} else {
			se->name_gone = true;
		}
	}
	if (dump_options(ud->sk, se, what) < 0)
		return -1;
	/* the queue: a listener's holds pending connections, not data */
	if (d->state != TCP_LISTEN && d->rqueue &&
	    peek_queue(ctx, ud->sk, f, type == SOCK_STREAM, false, d->rqueue, what) < 0)
		return -1;
	return 0;
}

static void unix_dump_free(struct dump_file *f)
{
	struct unix_dump *ud = f->priv;

	if (ud->sk >= 0)
		close(ud->sk);
	free(ud);
	f->priv = NULL;
}

static int cmp_ino(const void *a, const void *b)
{
	uint64_t x = (*(const struct dump_file *const *)a)->fe->socket->ino;
	uint64_t y = (*(const struct dump_file *const *)b)->fe->socket->ino;
	return x < y ? -1 : x > y;
}

static struct dump_file *by_ino(struct dump_file **v, size_t n, uint64_t ino)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t m = v[mid]->fe->socket->ino;
		if (m == ino)
			return v[mid];
		if (m < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const char *name_str(const SocketEntry *se, char *buf, size_t size)
{
	if (!se->has_src_addr || !se->src_addr.len)
		return "unnamed";
	if (se->src_addr.data[0])
		snprintf(buf, size, "%.*s", (int)se->src_addr.len, (const char *)se->src_addr.data);
	else
		snprintf(buf, size, "@%.*s", (int)se->src_addr.len - 1, (const char *)se->src_addr.data + 1);
	return buf;
}

/* The pending connections of a listener whose clients sent data: accepted (the only way
 * to read them), their queues recorded as their clients' (to_peer). */
static int take_pending(struct dump_ctx *ctx, struct dump_file *l, struct dump_file **v, size_t n)
{
	struct unix_dump *ud = l->priv;
	const SocketEntry *le = l->fe->socket;
	char what[64];

	/* accept() gives them in the order sock_diag lists their clients */
	for (size_t i = 0; i < le->n_icons; i++) {
		cleanup_close int a = accept4(ud->sk, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct dump_file *c = by_ino(v, n, le->icons[i]);

		if (a < 0) {
			pr_perror("can't take pending connection %zu of listener socket:[%" PRIu64 "]", i, le->ino);
			return -1;
		}
		if (!c) {
			pr_err("pending connection %zu of listener socket:[%" PRIu64 "] has no client in the tree\n", i,
			       le->ino);
			errno = ENOENT;
			return -1;
		}
		snprintf(what, sizeof(what), "the pending connection of socket:[%" PRIu64 "]", c->fe->socket->ino);
		if (peek_queue(ctx, a, c, c->fe->socket->type == SOCK_STREAM, true, UINT64_MAX, what) < 0)
			return -1;
	}
	return 0;
}

static int unix_dump_finish(struct dump_ctx *ctx)
{
	cleanup_free struct dump_file **v = NULL;
	size_t n;
	char nb[128];

	if (dump_files_of_kind(ctx, &unix_fd_ops, cmp_ino, &v, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct dump_file *f = v[i];
		SocketEntry *se = f->fe->socket;
		const struct unix_diag_info *pd, *l;

		if (se->state == TCP_LISTEN) {
			bool data = false;
			for (size_t k = 0; k < se->n_icons; k++) {
				struct dump_file *c = by_ino(v, n, se->icons[k]);
				const struct unix_diag_info *cd = sockdiag_unix_find(ctx->sockdiag, (uint32_t)se->icons[k]);
				if (!c) {
					pr_err("fd %d of pid %d: listener %s has a pending connection from socket:[%" PRIu64
					       "], outside the tree: criu-lite can't carry it\n",
					       f->fd, f->pid, name_str(se, nb, sizeof(nb)), se->icons[k]);
					errno = ENOTSUP;
					return -1;
				}
				data |= cd && cd->wqueue;
			}
			if (data && ctx->opts->leave_running) {
				pr_err("fd %d of pid %d: listener %s has pending connections whose clients sent data: "
				       "criu-lite reads it only by accepting them, which --leave-running forbids\n",
				       f->fd, f->pid, name_str(se, nb, sizeof(nb)));
				errno = ENOTSUP;
				return -1;
			}
			if (data && take_pending(ctx, f, v, n) < 0)
				return -1;
			continue;
		}
		/* a pending connection of a listener of the tree (its peer has no inode yet) */
		l = sockdiag_unix_listener_of(ctx->sockdiag, (uint32_t)se->ino);
		if (l && by_ino(v, n, l->ino))
			continue;
		if (!se->peer_ino) {
			/* a connection whose peer was closed */
			if (se->state == TCP_ESTABLISHED && se->type != SOCK_DGRAM) {
				se->has_peer_gone = true;
				se->peer_gone = true;
			}
			continue;
		}
		if (by_ino(v, n, se->peer_ino)) {
			const SocketEntry *pe = by_ino(v, n, se->peer_ino)->fe->socket;
			if (pe->has_src_addr) {
				se->has_dst_addr = true;
				se->dst_addr.len = pe->src_addr.len;
				se->dst_addr.data = malloc(pe->src_addr.len);
				if (!se->dst_addr.data) {
					pr_perror("can't copy a name");
					return -1;
				}
				memcpy(se->dst_addr.data, pe->src_addr.data, pe->src_addr.len);
			}
			continue;
		}
		pd = sockdiag_unix_find(ctx->sockdiag, (uint32_t)se->peer_ino);
		if (!pd) {
			if (se->type != SOCK_DGRAM) {
				se->has_peer_gone = true;
				se->peer_gone = true;
			}
			continue;
		}
		if (!ctx->opts->ext_unix_sk) {
			char pb[128];
			SocketEntry tmp = SOCKET_ENTRY__INIT;
			tmp.has_src_addr = pd->name_len > 0;
			tmp.src_addr.data = (uint8_t *)pd->name;
			tmp.src_addr.len = pd->name_len;
			pr_err("fd %d of pid %d is a unix socket (%s) connected to socket:[%" PRIu64 "] (%s) outside the "
			       "dumped tree: dump with --ext-unix-sk (-x) to allow it\n",
			       f->fd, f->pid, name_str(se, nb, sizeof(nb)), se->peer_ino, name_str(&tmp, pb, sizeof(pb)));
			errno = ENOTSUP;
			return -1;
		}
		se->has_external = true;
		se->external = true;
		if (pd->name_len) {
			se->has_dst_addr = true;
			se->dst_addr.len = pd->name_len;
			se->dst_addr.data = malloc(pd->name_len);
			if (!se->dst_addr.data) {
				pr_perror("can't copy a name");
				return -1;
			}
			memcpy(se->dst_addr.data, pd->name, pd->name_len);
		}
		pr_info("socket:[%" PRIu64 "] is connected outside the tree (--ext-unix-sk)\n", se->ino);
	}
	return 0;
}

/* ---- restore ---- */

struct usk {
	struct rst_file *rf;
	const SocketEntry *se;
	struct usk *peer;     /* its peer in the tree, if any */
	int other;            /* our end of a connection whose real peer is gone or outside */
	bool made;
	uint32_t fill_sndbuf; /* SO_SNDBUF to put back after the fill (0: untouched) */
};

struct uset {
	struct usk *v;        /* sorted by ino */
	size_t nr;
	char **unlink;        /* paths to remove once everything is connected */
	size_t nr_unlink;
};

static struct usk *find(struct uset *s, uint64_t ino)
{
	size_t lo = 0, hi = s->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->v[mid].se->ino == ino)
			return &s->v[mid];
		if (s->v[mid].se->ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static socklen_t addr_of(const uint8_t *name, size_t len, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	len = MIN(len, sizeof(sa->sun_path));
	memcpy(sa->sun_path, name, len);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

static bool same_name(const SocketEntry *a, const SocketEntry *b)
{
	return a->has_src_addr && b->has_src_addr && a->src_addr.len == b->src_addr.len &&
	       !memcmp(a->src_addr.data, b->src_addr.data, a->src_addr.len);
}

static int remember_unlink(struct uset *s, const char *path)
{
	char **n = realloc(s->unlink, (s->nr_unlink + 1) * sizeof(*n));

	if (!n || !(n[s->nr_unlink] = strdup(path))) {
		if (n)
			s->unlink = n;
		pr_perror("can't note a path to remove");
		return -1;
	}
	s->unlink = n;
	s->nr_unlink++;
	return 0;
}

/* Bind fd to the name of se: a stale socket file left at its path by the dumped
 * socket is removed first; its mode and owner come back. */
static int bind_name(struct uset *s, int fd, const SocketEntry *se, const char *what)
{
	struct sockaddr_un sa;
	socklen_t len = addr_of(se->src_addr.data, se->src_addr.len, &sa);
	char path[sizeof(sa.sun_path) + 1];
	bool is_path = path_of(se->src_addr.data, se->src_addr.len, path, sizeof(path));
	struct stat st;

	if (is_path && lstat(path, &st) == 0) {
		bool ours = S_ISSOCK(st.st_mode) && se->has_vfs_ino && st.st_ino == se->vfs_ino &&
			    (!se->has_vfs_dev || st.st_dev == se->vfs_dev);
		if (!ours) {
			pr_err("%s: its path %s is taken by another file\n", what, path);
			errno = EADDRINUSE;
			return -1;
		}
		if (unlink(path) < 0) {
			pr_perror("can't remove the old socket file %s", path);
			return -1;
		}
	}
	if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
		pr_perror("%s: can't bind to %s", what, is_path ? path : "its abstract name");
		return -1;
	}
	if (is_path) {
		if (se->has_vfs_mode && chmod(path, se->vfs_mode) < 0)
			pr_warn("can't set the mode of %s, ignoring: %s\n", path, strerror(errno));
		if (se->has_vfs_uid && chown(path, se->vfs_uid, se->vfs_gid) < 0)
			pr_warn("can't set the owner of %s, ignoring: %s\n", path, strerror(errno));
		if (se->has_name_gone && se->name_gone && remember_unlink(s, path) < 0)
			return -1;
	}
	return 0;
}

static int new_socket(const SocketEntry *se, const char *what)
{
	int fd = socket(AF_UNIX, (int)se->type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		pr_perror("can't create %s", what);
	return fd;
}

static void name_what(const struct usk *u, char *buf, size_t size)
{
	char nb[128];
	snprintf(buf, size, "socket:[%" PRIu64 "] (%s)", u->se->ino, name_str(u->se, nb, sizeof(nb)));
}

static int make_listener(struct uset *s, struct usk *u)
{
	char what[160];
	int fd;

	name_what(u, what, sizeof(what));
	fd = new_socket(u->se, what);
	if (fd < 0)
		return -1;
	u->rf->fd = fd;
	u->made = true;
	if (u->se->has_src_addr && bind_name(s, fd, u->se, what) < 0)
		return -1;
	if (listen(fd, u->se->has_backlog ? (int)u->se->backlog : 128) < 0) {
		pr_perror("can't listen on %s", what);
		return -1;
	}
	return 0;
}

/* A connected stream or seqpacket pair (a, b): acc gets the listener's name (the
 * accepting side), cli connects (with its own name, if it had one). */
static int make_pair(struct uset *s, struct usk *a, struct usk *b)
{
	struct usk *acc = a, *cli = b;
	struct sockaddr_un sa;
	socklen_t len;
	char what[160];
	int lfd = -1, temp = -1, cfd, sv[2];

	name_what(a, what, sizeof(what));
	if (!a->se->has_src_addr && !b->se->has_src_addr) {
		if (socketpair(AF_UNIX, (int)a->se->type | SOCK_CLOEXEC, 0, sv) < 0) {
			pr_perror("can't create the pair of %s", what);
			return -1;
		}
		a->rf->fd = sv[0];
		b->rf->fd = sv[1];
		a->made = b->made = true;
		return 0;
	}
	if (!a->se->has_src_addr)
		acc = b, cli = a;
	/* the listener of acc's name: one of the tree's, or one of our own for a moment */
	for (size_t i = 0; i < s->nr && lfd < 0; i++)
		if (s->v[i].made && s->v[i].se->state == TCP_LISTEN && s->v[i].se->type == acc->se->type &&
		    same_name(s->v[i].se, acc->se))
			lfd = s->v[i].rf->fd;
	if (lfd < 0 && cli->se->has_src_addr && acc->se->has_src_addr) {
		/* both named, no listener: the one whose name a listener of the tree has is
		 * not known; acc keeps a's name */
	}
	if (lfd < 0) {
		temp = new_socket(acc->se, what);
		if (temp < 0)
			return -1;
		/* the name stays on acc: a path is removed after if it was gone, else left
		 * behind as the dumped listener left it */
		if (bind_name(s, temp, acc->se, what) < 0 || listen(temp, 1) < 0) {
			if (errno)
				pr_perror("can't listen for the pair of %s", what);
			close(temp);
			return -1;
		}
		lfd = temp;
	}
	cfd = new_socket(cli->se, what);
	if (cfd < 0)
		goto err;
	cli->rf->fd = cfd;
	cli->made = true;
	if (cli->se->has_src_addr && bind_name(s, cfd, cli->se, what) < 0)
		goto err;
	len = addr_of(acc->se->src_addr.data, acc->se->src_addr.len, &sa);
	if (connect(cfd, (struct sockaddr *)&sa, len) < 0) {
		pr_perror("can't connect the pair of %s", what);
		goto err;
	}
	acc->rf->fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (acc->rf->fd < 0) {
		pr_perror("can't accept the pair of %s", what);
		goto err;
	}
	acc->made = true;
	if (temp >= 0)
		close(temp);
	return 0;
err:
	if (temp >= 0)
		close(temp);
	return -1;
}

/* A connection whose peer is gone (or outside the tree): a pair whose other end we
 * keep to send its queue, and close once it is filled. */
static int make_half(struct usk *u, struct rst_ctx *ctx)
{
	char what[160], key[48];
	int sv[2];

	name_what(u, what, sizeof(what));
	snprintf(key, sizeof(key), "socket:[%" PRIu64 "]", u->se->ino);
	if (u->se->has_external && u->se->external) {
		int inh = cr_opt_inherit_fd(ctx->opts, key);
		if (inh >= 0) {
			u->rf->fd = fcntl(inh, F_DUPFD_CLOEXEC, 0);
			if (u->rf->fd < 0) {
				pr_perror("--inherit-fd for %s", what);
				return -1;
			}
			u->made = true;
			return 0;
		}
		pr_warn("%s was connected outside the dumped tree: restored with a peer that is closed; "
			"--inherit-fd fd[N]:%s connects it to an fd of yours\n", what, key);
	}
	if (socketpair(AF_UNIX, (int)u->se->type | SOCK_CLOEXEC, 0, sv) < 0) {
		pr_perror("can't create %s", what);
		return -1;
	}
	u->rf->fd = sv[0];
	u->other = sv[1];
	u->made = true;
	return 0;
}

static int connect_to(int fd, const ProtobufCBinaryData *name, const char *what)
{
	struct sockaddr_un sa;
	socklen_t len = addr_of(name->data, name->len, &sa);

	if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
		pr_perror("can't connect %s", what);
		return -1;
	}
	return 0;
}

static int cmp_usk(const void *a, const void *b)
{
	uint64_t x = ((const struct usk *)a)->se->ino, y = ((const struct usk *)b)->se->ino;
	return x < y ? -1 : x > y;
}

static void uset_free(struct uset *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nr; i++)
		if (s->v[i].other >= 0)
			close(s->v[i].other);
	/* a restore that failed before the fill: the names that were gone go again */
	for (size_t i = 0; i < s->nr_unlink; i++) {
		unlink(s->unlink[i]);
		free(s->unlink[i]);
	}
	free(s->unlink);
	free(s->v);
	free(s);
}

static void unix_rst_free(struct rst_file *rf)
{
	uset_free(rf->priv);
	rf->priv = NULL;
}

static uint64_t unix_obj_key(const FileEntry *fe)
{
	(void)fe;
	return 1; /* every unix socket of the tree is built together */
}

static int unix_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	struct uset *s = files_zalloc(sizeof(*s), "the sockets");
	size_t n = 0;
	char what[160];

	if (!s)
		return -1;
	rf->priv = s;
	for (struct rst_file *d = rf; d; d = d->obj_next)
		n++;
	s->v = calloc(n, sizeof(*s->v));
	if (!s->v) {
		pr_perror("can't allocate the sockets");
		return -1;
	}
	for (struct rst_file *d = rf; d; d = d->obj_next) {
		struct usk *u = &s->v[s->nr++];
		u->rf = d;
		u->se = d->fe->socket;
		u->other = -1;
	}
	qsort(s->v, s->nr, sizeof(*s->v), cmp_usk);
	for (size_t i = 0; i < s->nr; i++) {
		struct usk *u = &s->v[i];
		if (u->se->family != AF_UNIX) {
			pr_err("file %u: a socket of family %u can't be restored\n", u->rf->fe->id, u->se->family);
			errno = ENOTSUP;
			return -1;
		}
		u->peer = u->se->peer_ino ? find(s, u->se->peer_ino) : NULL;
	}
	/* 1: listeners */
	for (size_t i = 0; i < s->nr; i++)
		if (s->v[i].se->state == TCP_LISTEN && make_listener(s, &s->v[i]) < 0)
			return -1;
	/* 2: connected pairs of the tree */
	for (size_t i = 0; i < s->nr; i++) {
		struct usk *u = &s->v[i], *p = u->peer;
		if (u->made || !p || p->made || p->peer != u)
			continue;
		if (u->se->type == SOCK_DGRAM) {
			/* connected both ways: a pair when neither has a name; else connect() later */
			if (!u->se->has_src_addr && !p->se->has_src_addr) {
				int sv[2];
				name_what(u, what, sizeof(what));
				if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0) {
					pr_perror("can't create the pair of %s", what);
					return -1;
				}
				u->rf->fd = sv[0];
				p->rf->fd = sv[1];
				u->made = p->made = true;
			}
			continue;
		}
		if (make_pair(s, u, p) < 0)
			return -1;
	}
	/* 3: pending connections, in each listener's order */
	for (size_t i = 0; i < s->nr; i++) {
		struct usk *l = &s->v[i];
		for (size_t k = 0; k < l->se->n_icons; k++) {
			struct usk *c = find(s, l->se->icons[k]);
			if (!c || c->made)
				continue;
			name_what(c, what, sizeof(what));
			c->rf->fd = new_socket(c->se, what);
			if (c->rf->fd < 0)
				return -1;
			c->made = true;
			if ((c->se->has_src_addr && bind_name(s, c->rf->fd, c->se, what) < 0) ||
			    connect_to(c->rf->fd, &l->se->src_addr, what) < 0)
				return -1;
		}
	}
	/* 4: the rest: half-closed or external connections, unconnected sockets */
	for (size_t i = 0; i < s->nr; i++) {
		struct usk *u = &s->v[i];
		bool stream = u->se->type != SOCK_DGRAM;
		if (u->made)
			continue;
		name_what(u, what, sizeof(what));
		/* (pending connections were made in step 3) */
		if (stream && u->se->state == TCP_ESTABLISHED) {
			if (make_half(u, ctx) < 0)
				return -1;
			continue;
		}
		u->rf->fd = new_socket(u->se, what);
		if (u->rf->fd < 0)
			return -1;
		u->made = true;
		if (u->se->has_src_addr && bind_name(s, u->rf->fd, u->se, what) < 0)
			return -1;
	}
	for (size_t i = 0; i < s->nr; i++) {
		struct usk *u = &s->v[i];
		name_what(u, what, sizeof(what));
		if (files_set_status_flags(u->rf->fd, u->se->has_flags ? u->se->flags : 0, what) < 0)
			return -1;
	}
	return 0;
}

/* Who sends a message queued to u (a datagram with sender address addr): the socket
 * of the tree with that name, u's peer, or a socket made for it (*ret_temp). */
static int dgram_sender(struct uset *s, struct usk *u, const FileDataEntry *d, int *ret_temp, char **ret_temp_path,
			const char *what)
{
	SocketEntry want = SOCKET_ENTRY__INIT;
	struct sockaddr_un sa;
	char path[sizeof(sa.sun_path) + 1];
	int fd;

	*ret_temp = -1;
	*ret_temp_path = NULL;
	if (!d->has_addr || !d->addr.len) {
		if (u->peer && !u->peer->se->has_src_addr)
			return u->peer->rf->fd;
		if (!u->se->has_src_addr) {
			pr_err("%s: a datagram from an unnamed sender is queued to an unnamed socket\n", what);
			errno = ENOTSUP;
			return -1;
		}
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			pr_perror("can't create a sender for %s", what);
		*ret_temp = fd;
		return fd;
	}
	want.has_src_addr = true;
	want.src_addr = d->addr;
	for (size_t i = 0; i < s->nr; i++)
		if (s->v[i].se->type == SOCK_DGRAM && same_name(s->v[i].se, &want))
			return s->v[i].rf->fd;
	/* a sender that is gone: a socket of our own with its name, for a moment */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		pr_perror("can't create a sender for %s", what);
		return -1;
	}
	*ret_temp_path = NULL;
	if (path_of(d->addr.data, d->addr.len, path, sizeof(path))) {
		struct stat st;
		if (lstat(path, &st) == 0) {
			/* the sender's socket file: dead (nobody bound), removed and left again by
			 * our socket; a live one is someone else's */
			cleanup_close int probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			if (!S_ISSOCK(st.st_mode) || probe < 0 ||
			    connect(probe, (struct sockaddr *)&sa, addr_of(d->addr.data, d->addr.len, &sa)) == 0 ||
			    errno != ECONNREFUSED || unlink(path) < 0) {
				pr_err("%s: the sender of a queued datagram was %s, which is another socket or file "
				       "now\n", what, path);
				close(fd);
				errno = EADDRINUSE;
				return -1;
			}
		} else {
			*ret_temp_path = strdup(path); /* removed again after */
		}
	}
	if (bind(fd, (struct sockaddr *)&sa, addr_of(d->addr.data, d->addr.len, &sa)) < 0) {
		pr_perror("%s: can't recreate the sender address of a queued datagram", what);
		close(fd);
		free(*ret_temp_path);
		*ret_temp_path = NULL;
		return -1;
	}
	*ret_temp = fd;
	return fd;
}

static void bump_sndbuf(struct usk *s, int fd)
{
	uint32_t v = FILL_SNDBUF / 2;

	(void)s;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v));
}

/* Send one queued message from fd to u (dgram: to u's name unless fd is u's peer). */
static int send_one(struct rst_ctx *ctx, int fd, struct usk *u, const FileDataEntry *d, bool to_name,
		    const char *what)
{
	char cbuf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(MAX_FDS_MSG * sizeof(int))];
	struct iovec iov = { d->has_data ? d->data.data : NULL, d->has_data ? d->data.len : 0 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct sockaddr_un sa;
	struct cmsghdr *c;
	size_t clen = 0;

	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	c = CMSG_FIRSTHDR(&mh);
	/* the sender's credentials, when that process is there (a task of the tree: its
	 * pid as the restored tree sees it) */
	pid_t cpid = d->has_creds && d->creds ? ns_rst_pid_of_img(ctx, d->pid) : 0;
	if (d->has_creds && d->creds && !cpid)
		cpid = (pid_t)d->pid; /* a process outside the tree */
	if (cpid > 0 && kill(cpid, 0) == 0) {
		struct ucred uc = { cpid, d->uid, d->gid };
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof(uc));
		memcpy(CMSG_DATA(c), &uc, sizeof(uc));
		clen += CMSG_SPACE(sizeof(uc));
		c = CMSG_NXTHDR(&mh, c);
	}
	if (d->n_fds) {
		int fds[MAX_FDS_MSG];
		if (d->n_fds > MAX_FDS_MSG) {
			pr_err("%s: a queued message carries %zu fds\n", what, d->n_fds);
			errno = E2BIG;
			return -1;
		}
		for (size_t k = 0; k < d->n_fds; k++)
			fds[k] = ctx->rfiles[img_set_file_idx(&ctx->img, d->fds[k])].fd; /* validated, opened */
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(d->n_fds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, d->n_fds * sizeof(int));
		clen += CMSG_SPACE(d->n_fds * sizeof(int));
	}
	mh.msg_controllen = clen;
	if (!clen)
		mh.msg_control = NULL;
	if (to_name) {
		mh.msg_name = &sa;
		mh.msg_namelen = addr_of(u->se->src_addr.data, u->se->src_addr.len, &sa);
	}
	if (sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)iov.iov_len) {
		pr_perror("%s: can't queue a message of %zu bytes again", what, iov.iov_len);
		return -1;
	}
	return 0;
}

static int fill_one(struct rst_ctx *ctx, struct uset *s, struct usk *u, const FileDataEntry *d)
{
	char what[160];
	cleanup_free char *temp_path = NULL;
	int fd = -1, temp = -1, ret;
	bool to_name = false;

	name_what(u, what, sizeof(what));
	if (d->has_to_peer && d->to_peer) {
		fd = u->rf->fd; /* the client sends into its pending connection */
	} else if (u->se->type == SOCK_DGRAM) {
		/* a pair made by socketpair() is connected already; the others are not yet */
		bool pair = u->peer && u->peer->peer == u && !u->se->has_src_addr && !u->peer->se->has_src_addr;
		fd = dgram_sender(s, u, d, &temp, &temp_path, what);
		to_name = fd >= 0 && !(pair && u->peer->rf->fd == fd);
		if (to_name && !u->se->has_src_addr) {
			pr_err("%s: a datagram is queued to it, and it has no name to send it to\n", what);
			errno = ENOTSUP;
			if (temp >= 0)
				close(temp);
			return -1;
		}
	} else if (u->se->has_external && u->se->external && u->other < 0) {
		pr_warn("%s: %zu bytes queued from outside the tree are not restored into the socket given with "
			"--inherit-fd\n", what, d->has_data ? d->data.len : 0);
		return 0;
	} else if (u->other >= 0) {
		fd = u->other;
	} else if (u->peer) {
		fd = u->peer->rf->fd;
	} else {
		pr_err("%s: it has data queued and no peer to send it\n", what);
		errno = ENOTSUP;
		return -1;
	}
	if (fd < 0)
		return -1;
	bump_sndbuf(u, fd);
	ret = send_one(ctx, fd, u, d, to_name, what);
	if (temp >= 0)
		close(temp);
	if (temp_path)
		unlink(temp_path);
	return ret;
}

static int set_opt(int fd, int opt, const void *v, socklen_t len, const char *name, const char *what)
{
	if (setsockopt(fd, SOL_SOCKET, opt, v, len) < 0) {
		pr_perror("can't set %s of %s", name, what);
		return -1;
	}
	return 0;
}

static int set_options(struct usk *u)
{
	const SocketEntry *se = u->se;
	int fd = u->rf->fd, v;
	char what[160];

	name_what(u, what, sizeof(what));
	v = se->passcred;
	if (se->has_passcred && se->passcred && set_opt(fd, SO_PASSCRED, &v, sizeof(v), "SO_PASSCRED", what) < 0)
		return -1;
	v = se->passsec;
	if (se->has_passsec && se->passsec && set_opt(fd, SO_PASSSEC, &v, sizeof(v), "SO_PASSSEC", what) < 0)
		return -1;
	v = se->passpidfd;
	if (se->has_passpidfd && se->passpidfd && set_opt(fd, SO_PASSPIDFD, &v, sizeof(v), "SO_PASSPIDFD", what) < 0)
		return -1;
	/* the kernel doubles what it is given */
	v = (int)(se->rcvbuf / 2);
	if (se->has_rcvbuf_set && se->rcvbuf_set && set_opt(fd, SO_RCVBUFFORCE, &v, sizeof(v), "SO_RCVBUF", what) < 0)
		return -1;
	v = (int)(se->sndbuf / 2);
	if (((se->has_sndbuf_set && se->sndbuf_set) || u->fill_sndbuf) &&
	    set_opt(fd, SO_SNDBUFFORCE, &v, sizeof(v), "SO_SNDBUF", what) < 0)
		return -1;
	if (se->has_rcvlowat && se->rcvlowat > 1 &&
	    set_opt(fd, SO_RCVLOWAT, &se->rcvlowat, sizeof(se->rcvlowat), "SO_RCVLOWAT", what) < 0)
		return -1;
	if (se->has_rcvtimeo_us && se->rcvtimeo_us) {
		struct timeval tv = { (time_t)(se->rcvtimeo_us / 1000000), (suseconds_t)(se->rcvtimeo_us % 1000000) };
		if (set_opt(fd, SO_RCVTIMEO, &tv, sizeof(tv), "SO_RCVTIMEO", what) < 0)
			return -1;
	}
	if (se->has_sndtimeo_us && se->sndtimeo_us) {
		struct timeval tv = { (time_t)(se->sndtimeo_us / 1000000), (suseconds_t)(se->sndtimeo_us % 1000000) };
		if (set_opt(fd, SO_SNDTIMEO, &tv, sizeof(tv), "SO_SNDTIMEO", what) < 0)
			return -1;
	}
	if (se->has_peek_off && se->peek_off >= 0 &&
	    set_opt(fd, SO_PEEK_OFF, &se->peek_off, sizeof(se->peek_off), "SO_PEEK_OFF", what) < 0)
		return -1;
	return 0;
}

static int unix_fill(struct rst_ctx *ctx, struct rst_file *rf)
{
	struct uset *s = rf->priv;
	char what[160];

	/* every sender's buffer large while the queues fill; every socket's own after */
	for (size_t i = 0; i < s->nr; i++)
		s->v[i].fill_sndbuf = 1;
	for (size_t i = 0; i < ctx->img.nr_file_data; i++) {
		const FileDataEntry *d = ctx->img.file_data[i];
		ssize_t fi = img_set_file_idx(&ctx->img, d->file_id);
		struct usk *u;
		if (ctx->img.files[fi]->type != FILE_TYPE_SOCKET)
			continue;
		u = find(s, ctx->img.files[fi]->socket->ino);
		if (!u || u->rf->fe->id != d->file_id)
			continue;
		if (fill_one(ctx, s, u, d) < 0)
			return -1;
	}
	/* datagram sockets connected to a name, now that their receivers' queues are full */
	for (size_t i = 0; i < s->nr; i++) {
		struct usk *u = &s->v[i];
		if (u->se->type != SOCK_DGRAM || !u->se->peer_ino || !u->se->has_dst_addr)
			continue;
		if (u->peer && u->peer->peer == u && !u->se->has_src_addr && !u->peer->se->has_src_addr)
			continue; /* a pair */
		name_what(u, what, sizeof(what));
		if (connect_to(u->rf->fd, &u->se->dst_addr, what) < 0)
			return -1;
	}
	for (size_t i = 0; i < s->nr; i++) {
		struct usk *u = &s->v[i];
		int how = -1;
		if (set_options(u) < 0)
			return -1;
		if (u->other >= 0) {
			close(u->other); /* its queue is in: the peer is gone, as it was */
			u->other = -1;
			continue;
		}
		if (u->se->type == SOCK_DGRAM || !u->se->shutdown)
			continue;
		if ((u->se->shutdown & (RCV_SHUTDOWN | SEND_SHUTDOWN)) == (RCV_SHUTDOWN | SEND_SHUTDOWN))
			how = SHUT_RDWR;
		else if (u->se->shutdown & RCV_SHUTDOWN)
			how = SHUT_RD;
		else if (u->se->shutdown & SEND_SHUTDOWN)
			how = SHUT_WR;
		if (how >= 0 && shutdown(u->rf->fd, how) < 0 && errno != ENOTCONN) {
			name_what(u, what, sizeof(what));
			pr_perror("can't shut %s down", what);
			return -1;
		}
	}
	for (size_t i = 0; i < s->nr_unlink; i++) {
		if (unlink(s->unlink[i]) < 0 && errno != ENOENT) {
			pr_perror("can't remove %s again", s->unlink[i]);
			return -1;
		}
		free(s->unlink[i]);
	}
	s->nr_unlink = 0;
	return 0;
}

const struct fd_ops unix_fd_ops = {
	.name = "unix socket",
	.type = FILE_TYPE_SOCKET,
	.match = unix_match,
	.dump = unix_dump,
	.dump_finish = unix_dump_finish,
	.dump_free = unix_dump_free,
	.obj_key = unix_obj_key,
	.open = unix_open,
	.fill = unix_fill,
	.rst_free = unix_rst_free,
};
