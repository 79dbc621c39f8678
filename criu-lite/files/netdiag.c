/* sock_diag through libnl: one dump per (family, protocol), kept sorted by inode. */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/inet_diag.h>
#include <linux/netlink_diag.h>
#include <linux/packet_diag.h>
#include <linux/sock_diag.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#define LOG_PREFIX "netdiag: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/netdiag.h"

struct netdiag_set {
	int family, protocol;
	struct netdiag_rec *v;
	size_t nr, cap;
	int err;        /* a record could not be stored */
};

struct netdiag {
	struct nl_sock *nl;
	struct netdiag_set *sets;
	size_t nr_sets;
};

struct netdiag *netdiag_new(void)
{
	struct netdiag *d = calloc(1, sizeof(*d));

	if (!d)
		pr_perror("can't allocate the sock_diag cache");
	return d;
}

static void rec_fini(struct netdiag_rec *r)
{
	free(r->groups);
	free(r->mc);
}

void netdiag_free(struct netdiag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nr_sets; i++) {
		for (size_t k = 0; k < d->sets[i].nr; k++)
			rec_fini(&d->sets[i].v[k]);
		free(d->sets[i].v);
	}
	free(d->sets);
	if (d->nl)
		nl_socket_free(d->nl);
	free(d);
}

static struct netdiag_rec *set_add(struct netdiag_set *s)
{
	if (s->nr == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		struct netdiag_rec *n = realloc(s->v, ncap * sizeof(*n));
		if (!n) {
			s->err = ENOMEM;
			return NULL;
		}
		s->v = n;
		s->cap = ncap;
	}
	memset(&s->v[s->nr], 0, sizeof(s->v[s->nr]));
	return &s->v[s->nr++];
}

static void fill_inet(struct netdiag_rec *r, struct nlmsghdr *h)
{
	struct inet_diag_msg *m = nlmsg_data(h);
	struct nlattr *tb[INET_DIAG_MAX + 1];

	r->ino = m->idiag_inode;
	r->family = m->idiag_family;
	r->state = m->idiag_state;
	r->rqueue = m->idiag_rqueue;
	r->wqueue = m->idiag_wqueue;
	memcpy(r->src, m->id.idiag_src, 16);
	memcpy(r->dst, m->id.idiag_dst, 16);
	r->sport = ntohs(m->id.idiag_sport);
	r->dport = ntohs(m->id.idiag_dport);
	r->ifindex = m->id.idiag_if;
	if (nlmsg_parse(h, sizeof(*m), tb, INET_DIAG_MAX, NULL) < 0)
		return;
	if (tb[INET_DIAG_SHUTDOWN]) {
		r->shutdown = nla_get_u8(tb[INET_DIAG_SHUTDOWN]);
		r->has_shutdown = true;
	}
	/* (given with INET_DIAG_INFO to a requester with CAP_NET_ADMIN) */
	r->has_md5 = tb[INET_DIAG_MD5SIG] && nla_len(tb[INET_DIAG_MD5SIG]) > 0;
}

static void fill_netlink(struct netdiag_set *s, struct netdiag_rec *r, struct nlmsghdr *h)
{
	struct netlink_diag_msg *m = nlmsg_data(h);
	struct nlattr *tb[NETLINK_DIAG_MAX + 1];

	r->ino = m->ndiag_ino;
	r->family = AF_NETLINK;
	r->type = m->ndiag_type;
	r->protocol = m->ndiag_protocol;
	r->state = m->ndiag_state;
	r->portid = m->ndiag_portid;
	r->dst_portid = m->ndiag_dst_portid;
	r->dst_group = m->ndiag_dst_group;
	if (nlmsg_parse(h, sizeof(*m), tb, NETLINK_DIAG_MAX, NULL) < 0)
		return;
	if (tb[NETLINK_DIAG_FLAGS])
		r->nl_flags = nla_get_u32(tb[NETLINK_DIAG_FLAGS]);
	if (tb[NETLINK_DIAG_GROUPS] && nla_len(tb[NETLINK_DIAG_GROUPS]) >= 4) {
		size_t n = nla_len(tb[NETLINK_DIAG_GROUPS]) / 4;
		r->groups = malloc(n * 4);
		if (!r->groups) {
			s->err = ENOMEM;
			return;
		}
		memcpy(r->groups, nla_data(tb[NETLINK_DIAG_GROUPS]), n * 4);
		r->nr_groups = n;
	}
}

static void fill_packet(struct netdiag_set *s, struct netdiag_rec *r, struct nlmsghdr *h)
{
	struct packet_diag_msg *m = nlmsg_data(h);
	struct nlattr *tb[PACKET_DIAG_MAX + 1];

	r->ino = m->pdiag_ino;
	r->family = AF_PACKET;
	r->type = m->pdiag_type;
	r->protocol = 0;
	r->dport = m->pdiag_num; /* the protocol, network order (ETH_P_*) */
	if (nlmsg_parse(h, sizeof(*m), tb, PACKET_DIAG_MAX, NULL) < 0)
		return;
	if (tb[PACKET_DIAG_INFO] && nla_len(tb[PACKET_DIAG_INFO]) >= (int)sizeof(struct packet_diag_info)) {
		struct packet_diag_info *pi = nla_data(tb[PACKET_DIAG_INFO]);
		r->has_info = true;
		r->pk_index = pi->pdi_index;
		r->pk_version = pi->pdi_version;
		r->pk_reserve = pi->pdi_reserve;
		r->pk_copy_thresh = pi->pdi_copy_thresh;
		r->pk_tstamp = pi->pdi_tstamp;
		r->pk_flags = pi->pdi_flags;
	}
	r->has_rings = tb[PACKET_DIAG_RX_RING] || tb[PACKET_DIAG_TX_RING];
	r->has_fanout = tb[PACKET_DIAG_FANOUT] != NULL;
	r->has_filter = tb[PACKET_DIAG_FILTER] != NULL;
	if (tb[PACKET_DIAG_MCLIST]) {
		size_t n = nla_len(tb[PACKET_DIAG_MCLIST]) / sizeof(struct packet_diag_mclist);
		struct packet_diag_mclist *ml = nla_data(tb[PACKET_DIAG_MCLIST]);
		if (!n)
			return;
		r->mc = calloc(n, sizeof(*r->mc));
		if (!r->mc) {
			s->err = ENOMEM;
			return;
		}
		for (size_t i = 0; i < n; i++) {
			r->mc[i].ifindex = ml[i].pdmc_index;
			r->mc[i].type = ml[i].pdmc_type;
			r->mc[i].alen = MIN(ml[i].pdmc_alen, (uint16_t)sizeof(r->mc[i].addr));
			memcpy(r->mc[i].addr, ml[i].pdmc_addr, r->mc[i].alen);
		}
		r->nr_mc = n;
	}
}

static int on_msg(struct nl_msg *msg, void *arg)
{
	struct netdiag_set *s = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct netdiag_rec *r;

	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
		return NL_OK;
	r = set_add(s);
	if (!r)
		return NL_STOP;
	if (s->family == AF_NETLINK) {
		if (!nlmsg_valid_hdr(h, sizeof(struct netlink_diag_msg)))
			goto drop;
		fill_netlink(s, r, h);
	} else if (s->family == AF_PACKET) {
		if (!nlmsg_valid_hdr(h, sizeof(struct packet_diag_msg)))
			goto drop;
		fill_packet(s, r, h);
	} else {
		if (!nlmsg_valid_hdr(h, sizeof(struct inet_diag_msg)))
			goto drop;
		fill_inet(r, h);
		r->protocol = (uint8_t)s->protocol;
	}
	return s->err ? NL_STOP : NL_OK;
drop:
	s->nr--;
	return NL_OK;
}

static int cmp_rec(const void *a, const void *b)
{
	const struct netdiag_rec *x = a, *y = b;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static const char *family_name(int family)
{
	switch (family) {
	case AF_INET: return "AF_INET";
	case AF_INET6: return "AF_INET6";
	case AF_NETLINK: return "AF_NETLINK";
	case AF_PACKET: return "AF_PACKET";
	default: return "?";
	}
}

int netdiag_connect(struct netdiag *d)
{
	int r;

	if (d->nl)
		return 0;
	d->nl = nl_socket_alloc();
	if (!d->nl) {
		pr_err("can't allocate a netlink socket\n");
		errno = ENOMEM;
		return -1;
	}
	r = nl_connect(d->nl, NETLINK_SOCK_DIAG);
	if (r < 0) {
		pr_err("can't connect to NETLINK_SOCK_DIAG: %s\n", nl_geterror(r));
		nl_socket_free(d->nl);
		d->nl = NULL;
		errno = EPROTONOSUPPORT;
		return -1;
	}
	nl_socket_set_buffer_size(d->nl, 1 << 20, 0);
	return 0;
}

/* Ask the kernel for every socket of (family, protocol) into s. 0 or -1 (logged). */
static int dump_set(struct netdiag *d, struct netdiag_set *s)
{
	union {
		struct inet_diag_req_v2 inet;
		struct netlink_diag_req nl;
		struct packet_diag_req pk;
	} req;
	size_t len;
	int r;

	if (netdiag_connect(d) < 0)
		return -1;
	memset(&req, 0, sizeof(req));
	if (s->family == AF_NETLINK) {
		req.nl.sdiag_family = AF_NETLINK;
		req.nl.sdiag_protocol = NDIAG_PROTO_ALL;
		req.nl.ndiag_show = NDIAG_SHOW_GROUPS | NDIAG_SHOW_FLAGS;
		len = sizeof(req.nl);
	} else if (s->family == AF_PACKET) {
		req.pk.sdiag_family = AF_PACKET;
		req.pk.pdiag_show = PACKET_SHOW_INFO | PACKET_SHOW_MCLIST | PACKET_SHOW_RING_CFG | PACKET_SHOW_FANOUT |
				    PACKET_SHOW_FILTER;
		len = sizeof(req.pk);
	} else {
		req.inet.sdiag_family = (uint8_t)s->family;
		req.inet.sdiag_protocol = (uint8_t)s->protocol;
		req.inet.idiag_states = ~0u;
		if (s->protocol == IPPROTO_TCP)
			req.inet.idiag_ext = 1 << (INET_DIAG_INFO - 1); /* and with it MD5 keys */
		len = sizeof(req.inet);
	}
	nl_socket_modify_cb(d->nl, NL_CB_VALID, NL_CB_CUSTOM, on_msg, s);
	r = nl_send_simple(d->nl, SOCK_DIAG_BY_FAMILY, NLM_F_DUMP | NLM_F_REQUEST, &req, len);
	if (r >= 0)
		r = nl_recvmsgs_default(d->nl);
	if (r < 0 || s->err) {
		pr_err("sock_diag of %s sockets (protocol %d): %s\n", family_name(s->family), s->protocol,
		       r < 0 ? nl_geterror(r) : strerror(s->err));
		errno = s->err ? s->err : EIO;
		return -1;
	}
	if (s->nr) /* s->v may be NULL */
		qsort(s->v, s->nr, sizeof(*s->v), cmp_rec);
	pr_debug("%zu %s sockets (protocol %d)\n", s->nr, family_name(s->family), s->protocol);
	return 0;
}

int netdiag_find(struct netdiag *d, int family, int protocol, uint64_t ino, const struct netdiag_rec **ret)
{
	struct netdiag_set *s = NULL;
	struct netdiag_rec key = { .ino = ino };

	if (family == AF_NETLINK || family == AF_PACKET)
		protocol = 0;
	for (size_t i = 0; i < d->nr_sets && !s; i++)
		if (d->sets[i].family == family && d->sets[i].protocol == protocol)
			s = &d->sets[i];
	if (!s) {
		struct netdiag_set *n = realloc(d->sets, (d->nr_sets + 1) * sizeof(*n));
		if (!n) {
			pr_perror("can't grow the sock_diag cache");
			return -1;
		}
		d->sets = n;
		s = &d->sets[d->nr_sets];
		memset(s, 0, sizeof(*s));
		s->family = family;
		s->protocol = protocol;
		if (dump_set(d, s) < 0) {
			for (size_t k = 0; k < s->nr; k++)
				rec_fini(&s->v[k]);
			free(s->v);
			return -1;
		}
		d->nr_sets++;
	}
	*ret = s->nr ? bsearch(&key, s->v, s->nr, sizeof(*s->v), cmp_rec) : NULL;
	return *ret != NULL;
}
