/*
 * AF_PACKET sockets: type, protocol, the interface bound to (by name, as its index
 * may differ after a reboot), the PACKET_* options, multicast/promiscuous
 * memberships and classic BPF filters. Packets queued are not carried. Mapped
 * rings (PACKET_RX_RING/TX_RING) and fanout groups are refused at dump: their
 * memory and group are kernel state criu-lite does not rebuild.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stddef.h>
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

#define PK_FIELD(f) offsetof(PacketSkEntry, has_##f), offsetof(PacketSkEntry, f)
static const struct {
	int opt;
	const char *name;
	size_t has_off, off;
} pk_opts[] = {
	{ PACKET_VERSION, "PACKET_VERSION", PK_FIELD(version) },
	{ PACKET_RESERVE, "PACKET_RESERVE", PK_FIELD(reserve) },
	{ PACKET_AUXDATA, "PACKET_AUXDATA", PK_FIELD(auxdata) },
	{ PACKET_ORIGDEV, "PACKET_ORIGDEV", PK_FIELD(origdev) },
	{ PACKET_VNET_HDR, "PACKET_VNET_HDR", PK_FIELD(vnet_hdr) },
	{ PACKET_TIMESTAMP, "PACKET_TIMESTAMP", PK_FIELD(tstamp) },
	{ PACKET_LOSS, "PACKET_LOSS", PK_FIELD(loss) },
	{ PACKET_QDISC_BYPASS, "PACKET_QDISC_BYPASS", PK_FIELD(qdisc_bypass) },
	{ PACKET_IGNORE_OUTGOING, "PACKET_IGNORE_OUTGOING", PK_FIELD(ignore_outgoing) },
};

static bool packet_match(const struct fd_probe *p)
{
	return p->sk >= 0 && p->sk_family == AF_PACKET;
}

static int packet_dump(struct dump_ctx *ctx, struct fd_probe *p, struct dump_file *f)
{
	PacketSkEntry *pe = files_zalloc(sizeof(*pe), "a packet socket entry");
	const struct netdiag_rec *r = NULL;
	struct sockaddr_ll sll;
	socklen_t l = sizeof(sll);
	struct netdiag *d;
	char what[96];
	int sk_type, sk_protocol;

	if (!pe)
		return -1;
	snprintf(what, sizeof(what), "fd %d of pid %d (packet socket)", p->fd, p->pid);
	if (sko_type_proto(p->sk, &sk_type, &sk_protocol, what) < 0) {
		free(pe);
		return -1;
	}
	packet_sk_entry__init(pe);
	f->fe->packet = pe;
	snprintf(what, sizeof(what), "fd %d of pid %d (packet socket)", p->fd, p->pid);
	pe->type = (uint32_t)sk_type;
	pe->protocol = (uint32_t)sk_protocol;
	pe->has_ino = pe->has_flags = true;
	pe->ino = p->st.st_ino;
	pe->flags = p->flags;
	if (net_dump_check_ns(ctx, p, what) < 0)
		return -1;
	d = net_dump_diag(ctx);
	if (!d || netdiag_find(d, AF_PACKET, 0, p->st.st_ino, &r) < 0)
		return -1;
	if (r && r->has_rings) {
		pr_err("%s has a mapped ring (PACKET_RX_RING/PACKET_TX_RING): criu-lite can't carry it\n", what);
		errno = ENOTSUP;
		return -1;
	}
	if (r && r->has_fanout) {
		pr_err("%s is in a fanout group (PACKET_FANOUT): criu-lite can't carry it\n", what);
		errno = ENOTSUP;
		return -1;
	}
	memset(&sll, 0, sizeof(sll));
	if (getsockname(p->sk, (struct sockaddr *)&sll, &l) < 0) {
		pr_perror("%s: getsockname", what);
		return -1;
	}
	if (sll.sll_ifindex) {
		char name[IF_NAMESIZE];
		pe->has_ifindex = true;
		pe->ifindex = (uint32_t)sll.sll_ifindex;
		if (!if_indextoname((unsigned)sll.sll_ifindex, name)) {
			pr_perror("%s: bound to interface %d, which has no name", what, sll.sll_ifindex);
			return -1;
		}
		pe->ifname = strdup(name);
		if (!pe->ifname) {
			pr_perror("can't copy a name");
			return -1;
		}
	}
	if (sll.sll_protocol != (uint16_t)sk_protocol)
		pe->protocol = sll.sll_protocol; /* bind() changed it */
	for (size_t i = 0; i < ARRAY_SIZE(pk_opts); i++) {
		int v = 0;
		socklen_t vl = sizeof(v);
		if (getsockopt(p->sk, SOL_PACKET, pk_opts[i].opt, &v, &vl) < 0) {
			if (errno == ENOPROTOOPT)
				continue;
			pr_perror("%s: getsockopt %s", what, pk_opts[i].name);
			return -1;
		}
		if (!v)
			continue;
		*(protobuf_c_boolean *)((char *)pe + pk_opts[i].has_off) = true;
		*(uint32_t *)((char *)pe + pk_opts[i].off) = (uint32_t)v;
	}
	if (r && r->has_info && r->pk_copy_thresh) {
		pe->has_copy_thresh = true;
		pe->copy_thresh = r->pk_copy_thresh;
	}
	if (r && r->nr_mc) {
		pe->mclist = calloc(r->nr_mc, sizeof(*pe->mclist));
		if (!pe->mclist) {
			pr_perror("%s: can't copy its memberships", what);
			return -1;
		}
		for (size_t i = 0; i < r->nr_mc; i++) {
			PacketMclistEntry *m = files_zalloc(sizeof(*m), "a membership");
			if (!m)
				return -1;
			packet_mclist_entry__init(m);
			pe->mclist[pe->n_mclist++] = m;
			m->ifindex = r->mc[i].ifindex;
			m->type = r->mc[i].type;
			if (r->mc[i].alen) {
				m->addr.data = malloc(r->mc[i].alen);
				if (!m->addr.data) {
					pr_perror("can't copy an address");
					return -1;
				}
				memcpy(m->addr.data, r->mc[i].addr, r->mc[i].alen);
				m->addr.len = r->mc[i].alen;
				m->has_addr = true;
			}
		}
	}
	{
		struct sko_sock s = { .fd = p->sk, .family = AF_PACKET, .type = sk_type,
				      .protocol = sk_protocol, .mask = SKO_SOCK, .what = what };
		if (sko_dump(&s, &pe->opts) < 0)
			return -1;
	}
	pr_info("%s: protocol 0x%x, interface %s (packets queued are not carried)\n", what, pe->protocol,
		pe->ifname ? pe->ifname : "any");
	return 0;
}

static int packet_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	const PacketSkEntry *pe = rf->fe->packet;
	cleanup_close int fd = socket(AF_PACKET, (int)pe->type | SOCK_CLOEXEC, (int)pe->protocol);
	struct sko_sock s = { .family = AF_PACKET, .type = (int)pe->type, .protocol = (int)pe->protocol,
			      .mask = SKO_SOCK };
	char what[96];

	(void)ctx;
	snprintf(what, sizeof(what), "file %u (packet socket on %s)", rf->fe->id, pe->ifname ? pe->ifname : "any interface");
	s.what = what;
	if (fd < 0) {
		pr_perror("can't create %s", what);
		return -1;
	}
	s.fd = fd;
	for (size_t i = 0; i < ARRAY_SIZE(pk_opts); i++) {
		if (!*(const protobuf_c_boolean *)((const char *)pe + pk_opts[i].has_off))
			continue;
		if (sko_set_int(&s, SOL_PACKET, pk_opts[i].opt, (int)*(const uint32_t *)((const char *)pe + pk_opts[i].off),
				pk_opts[i].name) < 0)
			return -1;
	}
	if (pe->has_copy_thresh && sko_set_int(&s, SOL_PACKET, PACKET_COPY_THRESH, (int)pe->copy_thresh,
					       "PACKET_COPY_THRESH") < 0)
		return -1;
	if (sko_restore(&s, pe->opts) < 0 || sko_restore_bufs(&s, pe->opts) < 0)
		return -1;
	if (pe->ifname) {
		struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = (uint16_t)pe->protocol };
		sll.sll_ifindex = (int)if_nametoindex(pe->ifname);
		if (!sll.sll_ifindex) {
			pr_perror("%s: no interface %s here", what, pe->ifname);
			return -1;
		}
		if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
			pr_perror("can't bind %s", what);
			return -1;
		}
	}
	for (size_t i = 0; i < pe->n_mclist; i++) {
		const PacketMclistEntry *m = pe->mclist[i];
		struct packet_mreq mr = { .mr_ifindex = (int)m->ifindex, .mr_type = (unsigned short)m->type };
		if (m->has_addr) {
			mr.mr_alen = (unsigned short)MIN(m->addr.len, sizeof(mr.mr_address));
			memcpy(mr.mr_address, m->addr.data, mr.mr_alen);
		}
		if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
			pr_perror("%s: can't add its membership of type %u on interface %u", what, m->type, m->ifindex);
			return -1;
		}
	}
	if (files_set_status_flags(fd, pe->has_flags ? pe->flags : 0, what) < 0)
		return -1;
	rf->fd = steal_fd(&fd);
	return 0;
}

const struct fd_ops packet_fd_ops = {
	.name = "packet socket",
	.type = FILE_TYPE_PACKET,
	.match = packet_match,
	.dump = packet_dump,
	.open = packet_open,
};
