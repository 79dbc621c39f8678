/*
 * AF_NETLINK sockets: their protocol, address (portid), multicast groups, peer
 * (connect), flags and options. Messages queued are not carried (as in CRIU): a
 * program reading a netlink socket sees the notifications that come after the
 * restore. A socket in the middle of a dump (NLM_F_DUMP answered in parts) is
 * refused: the kernel's state of the dump can't be carried.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/netlink.h>
#include <linux/netlink_diag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"
#include "criu-lite/files/net.h"
#include "criu-lite/files/netdiag.h"
#include "criu-lite/files/sockopt.h"

#define NL_MAX_GROUP_WORDS 1024 /* 32768 groups: far more than any family has */

static const struct {
	uint32_t flag;
	int opt;
	const char *name;
} nl_flags[] = {
	{ NDIAG_FLAG_PKTINFO, NETLINK_PKTINFO, "NETLINK_PKTINFO" },
	{ NDIAG_FLAG_BROADCAST_ERROR, NETLINK_BROADCAST_ERROR, "NETLINK_BROADCAST_ERROR" },
	{ NDIAG_FLAG_NO_ENOBUFS, NETLINK_NO_ENOBUFS, "NETLINK_NO_ENOBUFS" },
	{ NDIAG_FLAG_LISTEN_ALL_NSID, NETLINK_LISTEN_ALL_NSID, "NETLINK_LISTEN_ALL_NSID" },
	{ NDIAG_FLAG_CAP_ACK, NETLINK_CAP_ACK, "NETLINK_CAP_ACK" },
};

static bool netlink_match(const struct fd_probe *p)
{
	return p->sk >= 0 && p->sk_family == AF_NETLINK;
}

static int nl_getint(int fd, int opt, uint32_t *v, protobuf_c_boolean *has)
{
	int x = 0;
	socklen_t l = sizeof(x);

	if (getsockopt(fd, SOL_NETLINK, opt, &x, &l) < 0)
		return errno == ENOPROTOOPT ? 0 : -1;
	*v = (uint32_t)x;
	*has = x != 0;
	return 0;
}

static int netlink_dump(struct dump_ctx *ctx, struct fd_probe *p, struct dump_file *f)
{
	NetlinkSkEntry *ne = files_zalloc(sizeof(*ne), "a netlink socket entry");
	const struct netdiag_rec *r = NULL;
	struct netdiag *d;
	char what[96];
	int sk_type, sk_protocol;

	if (!ne)
		return -1;
	snprintf(what, sizeof(what), "fd %d of pid %d (netlink socket)", p->fd, p->pid);
	if (sko_type_proto(p->sk, &sk_type, &sk_protocol, what) < 0) {
		free(ne);
		return -1;
	}
	netlink_sk_entry__init(ne);
	f->fe->netlink = ne;
	snprintf(what, sizeof(what), "fd %d of pid %d (netlink socket of protocol %d)", p->fd, p->pid, sk_protocol);
	ne->protocol = (uint32_t)sk_protocol;
	ne->type = (uint32_t)sk_type;
	ne->has_ino = ne->has_flags = true;
	ne->ino = p->st.st_ino;
	ne->flags = p->flags;
	if (net_dump_check_ns(ctx, p, what) < 0)
		return -1;
	d = net_dump_diag(ctx);
	if (!d || netdiag_find(d, AF_NETLINK, 0, p->st.st_ino, &r) < 0)
		return -1;
	if (!r) {
		/* sock_diag lists bound sockets only: this one must have no address yet */
		struct sockaddr_nl sa;
		socklen_t l = sizeof(sa);
		memset(&sa, 0, sizeof(sa));
		if (getsockname(p->sk, (struct sockaddr *)&sa, &l) < 0 || sa.nl_pid || sa.nl_groups) {
			pr_err("%s: sock_diag does not know it, and it is bound (portid %u)\n", what, sa.nl_pid);
			errno = ENOENT;
			return -1;
		}
		goto opts;
	}
	if (r->nl_flags & NDIAG_FLAG_CB_RUNNING) {
		pr_err("%s is in the middle of a dump (NLM_F_DUMP): criu-lite can't carry the kernel's side of it\n",
		       what);
		errno = ENOTSUP;
		return -1;
	}
	ne->has_portid = ne->has_dst_portid = ne->has_dst_group = ne->has_nl_flags = true;
	ne->portid = r->portid;
	ne->dst_portid = r->dst_portid;
	ne->dst_group = r->dst_group;
	ne->nl_flags = r->nl_flags;
	if (r->nr_groups > NL_MAX_GROUP_WORDS) {
		pr_err("%s: %zu words of groups\n", what, r->nr_groups);
		errno = E2BIG;
		return -1;
	}
	for (size_t i = r->nr_groups; i > 0; i--)
		if (r->groups[i - 1]) {
			ne->groups = malloc(i * sizeof(uint32_t));
			if (!ne->groups) {
				pr_perror("%s: can't copy its groups", what);
				return -1;
			}
			memcpy(ne->groups, r->groups, i * sizeof(uint32_t));
			ne->n_groups = i;
			break;
		}
opts:
	if (nl_getint(p->sk, NETLINK_EXT_ACK, &ne->ext_ack, &ne->has_ext_ack) < 0 ||
	    nl_getint(p->sk, NETLINK_GET_STRICT_CHK, &ne->get_strict_chk, &ne->has_get_strict_chk) < 0) {
		pr_perror("%s: getsockopt", what);
		return -1;
	}
	{
		struct sko_sock s = { .fd = p->sk, .family = AF_NETLINK, .type = sk_type,
				      .protocol = sk_protocol, .mask = SKO_SOCK, .what = what };
		if (sko_dump(&s, &ne->opts) < 0)
			return -1;
	}
	pr_info("%s: portid %u, %zu group word(s), peer %u/%u, flags 0x%x (queued messages are not carried)\n", what,
		ne->portid, ne->n_groups, ne->dst_portid, ne->dst_group, ne->nl_flags);
	return 0;
}

static int netlink_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	const NetlinkSkEntry *ne = rf->fe->netlink;
	cleanup_close int fd = socket(AF_NETLINK, (int)ne->type | SOCK_CLOEXEC, (int)ne->protocol);
	struct sko_sock s = { .family = AF_NETLINK, .type = (int)ne->type, .protocol = (int)ne->protocol,
			      .mask = SKO_SOCK };
	char what[96];

	(void)ctx;
	snprintf(what, sizeof(what), "file %u (netlink socket of protocol %u, portid %u)", rf->fe->id, ne->protocol,
		 ne->portid);
	s.what = what;
	if (fd < 0) {
		pr_perror("can't create %s", what);
		return -1;
	}
	s.fd = fd;
	if (sko_restore(&s, ne->opts) < 0 || sko_restore_bufs(&s, ne->opts) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(nl_flags); i++)
		if ((ne->nl_flags & nl_flags[i].flag) && sko_set_int(&s, SOL_NETLINK, nl_flags[i].opt, 1, nl_flags[i].name) < 0)
			return -1;
	if (ne->has_ext_ack && sko_set_int(&s, SOL_NETLINK, NETLINK_EXT_ACK, (int)ne->ext_ack, "NETLINK_EXT_ACK") < 0)
		return -1;
	if (ne->has_get_strict_chk &&
	    sko_set_int(&s, SOL_NETLINK, NETLINK_GET_STRICT_CHK, (int)ne->get_strict_chk, "NETLINK_GET_STRICT_CHK") < 0)
		return -1;
	if (ne->portid || ne->n_groups) {
		struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_pid = ne->portid,
					  .nl_groups = ne->n_groups ? ne->groups[0] : 0 };
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			pr_perror("can't bind %s", what);
			return -1;
		}
	}
	/* groups above 32 are only reached by NETLINK_ADD_MEMBERSHIP */
	for (size_t w = 1; w < ne->n_groups; w++)
		for (int b = 0; b < 32; b++)
			if ((ne->groups[w] >> b) & 1) {
				int g = (int)(w * 32 + b + 1);
				if (sko_set_int(&s, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g, "NETLINK_ADD_MEMBERSHIP") < 0)
					return -1;
			}
	if (ne->dst_portid || ne->dst_group) {
		struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_pid = ne->dst_portid,
					  .nl_groups = ne->dst_group ? 1u << (ne->dst_group - 1) : 0 };
		if (ne->dst_group > 32) {
			pr_err("%s: connected to group %u, above 32\n", what, ne->dst_group);
			errno = ENOTSUP;
			return -1;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			pr_perror("can't connect %s", what);
			return -1;
		}
	}
	if (files_set_status_flags(fd, ne->has_flags ? ne->flags : 0, what) < 0)
		return -1;
	rf->fd = steal_fd(&fd);
	return 0;
}

const struct fd_ops netlink_fd_ops = {
	.name = "netlink socket",
	.type = FILE_TYPE_NETLINK,
	.match = netlink_match,
	.dump = netlink_dump,
	.open = netlink_open,
};
