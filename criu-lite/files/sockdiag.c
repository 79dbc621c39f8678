/*
 * sock_diag through libnl: every unix socket of our network namespace, with its
 * name, bound inode, peer, pending connections, queue lengths and shutdown state,
 * in one dump, looked up by inode.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define LOG_PREFIX "sockdiag: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/sockdiag.h"

struct icon {
	uint32_t client, listener; /* a pending connection's client and its listener */
};

struct sockdiag {
	struct unix_diag_info *v; /* sorted by ino once loaded */
	size_t nr, cap;
	struct icon *icons;       /* sorted by client */
	size_t nr_icons;
	int err;
};

static int add(struct sockdiag *t, const struct unix_diag_info *u)
{
	if (t->nr == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 64;
		struct unix_diag_info *n = realloc(t->v, ncap * sizeof(*n));
		if (!n)
			return -1;
		t->v = n;
		t->cap = ncap;
	}
	t->v[t->nr++] = *u;
	return 0;
}

static int on_msg(struct nl_msg *msg, void *arg)
{
	struct sockdiag *t = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct unix_diag_msg *m = nlmsg_data(h);
	struct nlattr *tb[UNIX_DIAG_MAX + 1];
	struct unix_diag_info u;

	if (nlmsg_parse(h, sizeof(*m), tb, UNIX_DIAG_MAX, NULL) < 0) {
		t->err = EBADMSG;
		return NL_STOP;
	}
	memset(&u, 0, sizeof(u));
	u.ino = m->udiag_ino;
	u.type = m->udiag_type;
	u.state = m->udiag_state;
	if (tb[UNIX_DIAG_NAME]) {
		size_t n = nla_len(tb[UNIX_DIAG_NAME]);
		u.name_len = (uint32_t)MIN(n, sizeof(u.name));
		memcpy(u.name, nla_data(tb[UNIX_DIAG_NAME]), u.name_len);
	}
	if (tb[UNIX_DIAG_VFS] && nla_len(tb[UNIX_DIAG_VFS]) >= (int)sizeof(struct unix_diag_vfs)) {
		struct unix_diag_vfs *v = nla_data(tb[UNIX_DIAG_VFS]);
		u.has_vfs = true;
		u.vfs_ino = v->udiag_vfs_ino;
		u.vfs_dev = v->udiag_vfs_dev;
	}
	if (tb[UNIX_DIAG_PEER])
		u.peer = nla_get_u32(tb[UNIX_DIAG_PEER]);
	if (tb[UNIX_DIAG_RQLEN] && nla_len(tb[UNIX_DIAG_RQLEN]) >= (int)sizeof(struct unix_diag_rqlen)) {
		struct unix_diag_rqlen *q = nla_data(tb[UNIX_DIAG_RQLEN]);
		u.rqueue = q->udiag_rqueue;
		u.wqueue = q->udiag_wqueue;
	}
	if (tb[UNIX_DIAG_SHUTDOWN])
		u.shutdown = nla_get_u8(tb[UNIX_DIAG_SHUTDOWN]);
	if (tb[UNIX_DIAG_ICONS] && nla_len(tb[UNIX_DIAG_ICONS]) > 0) {
		size_t n = nla_len(tb[UNIX_DIAG_ICONS]) / sizeof(uint32_t);
		u.icons = malloc(n * sizeof(uint32_t));
		if (!u.icons) {
			t->err = ENOMEM;
			return NL_STOP;
		}
		memcpy(u.icons, nla_data(tb[UNIX_DIAG_ICONS]), n * sizeof(uint32_t));
		u.nr_icons = (uint32_t)n;
	}
	if (add(t, &u) < 0) {
		free(u.icons);
		t->err = ENOMEM;
		return NL_STOP;
	}
	return NL_OK;
}

static int cmp_icon(const void *a, const void *b)
{
	uint32_t x = ((const struct icon *)a)->client, y = ((const struct icon *)b)->client;
	return x < y ? -1 : x > y;
}

static int cmp_ino(const void *a, const void *b)
{
	uint32_t x = ((const struct unix_diag_info *)a)->ino, y = ((const struct unix_diag_info *)b)->ino;
	return x < y ? -1 : x > y;
}

/* One sock_diag dump: req, its answers through cb. 0 or -1 (logged, naming what). */
static int diag_dump(void *req, size_t len, nl_recvmsg_msg_cb_t cb, void *arg, int *cb_err, const char *what)
{
	struct nl_sock *sk = nl_socket_alloc();
	int r;

	if (!sk) {
		pr_err("can't allocate a netlink socket\n");
		return -1;
	}
	r = nl_connect(sk, NETLINK_SOCK_DIAG);
	if (r < 0) {
		pr_err("can't connect to sock_diag: %s\n", nl_geterror(r));
		goto err;
	}
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, cb, arg);
	r = nl_send_simple(sk, SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, req, len);
	if (r < 0) {
		pr_err("can't ask sock_diag for the %s: %s\n", what, nl_geterror(r));
		goto err;
	}
	r = nl_recvmsgs_default(sk);
	if (r < 0 || *cb_err) {
		pr_err("can't read the %s from sock_diag: %s\n", what, r < 0 ? nl_geterror(r) : strerror(*cb_err));
		goto err;
	}
	nl_socket_free(sk);
	return 0;
err:
	nl_socket_free(sk);
	errno = EIO;
	return -1;
}

struct sockdiag *sockdiag_unix_load(void)
{
	struct unix_diag_req req = {
		.sdiag_family = AF_UNIX,
		.udiag_states = ~0u,
		.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS |
			      UDIAG_SHOW_RQLEN,
	};
	struct sockdiag *t = calloc(1, sizeof(*t));

	if (!t) {
		pr_perror("can't allocate the socket table");
		return NULL;
	}
	if (diag_dump(&req, sizeof(req), on_msg, t, &t->err, "unix sockets") < 0) {
		sockdiag_free(t);
		return NULL;
	}
	if (t->nr) /* t->v may be NULL */
		qsort(t->v, t->nr, sizeof(*t->v), cmp_ino);
	for (size_t i = 0; i < t->nr; i++)
		t->nr_icons += t->v[i].nr_icons;
	t->icons = malloc((t->nr_icons ? t->nr_icons : 1) * sizeof(*t->icons));
	if (!t->icons) {
		pr_perror("can't allocate the pending connections");
		sockdiag_free(t);
		return NULL;
	}
	t->nr_icons = 0;
	for (size_t i = 0; i < t->nr; i++)
		for (uint32_t k = 0; k < t->v[i].nr_icons; k++)
			t->icons[t->nr_icons++] = (struct icon){ t->v[i].icons[k], t->v[i].ino };
	qsort(t->icons, t->nr_icons, sizeof(*t->icons), cmp_icon);
	pr_debug("%zu unix sockets\n", t->nr);
	return t;
}

const struct unix_diag_info *sockdiag_unix_find(const struct sockdiag *t, uint32_t ino)
{
	struct unix_diag_info key = { .ino = ino };

	return t && t->nr ? bsearch(&key, t->v, t->nr, sizeof(*t->v), cmp_ino) : NULL;
}

const struct unix_diag_info *sockdiag_unix_listener_of(const struct sockdiag *t, uint32_t client)
{
	struct icon key = { .client = client };
	const struct icon *c = t && t->nr_icons ? bsearch(&key, t->icons, t->nr_icons, sizeof(*t->icons), cmp_icon)
						: NULL;

	return c ? sockdiag_unix_find(t, c->listener) : NULL;
}

void sockdiag_free(struct sockdiag *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nr; i++)
		free(t->v[i].icons);
	free(t->v);
	free(t->icons);
	free(t);
}
