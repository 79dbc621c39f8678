/* Firewall rules of a network namespace of the tree's own (see netfw.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "ns/netfw: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/ns/netfw.h"

#define NFT_BUF (64 * 1024)
#define IPT_MAX_TABLE (64u << 20)

/* nftables: any table at all holds something criu-lite would drop. */
static int nft_tables(pid_t pid)
{
	struct {
		struct nlmsghdr nh;
		struct nfgenmsg g;
	} req = {
		.nh = { .nlmsg_len = sizeof(req),
			.nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = 1 },
		.g = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0 },
	};
	cleanup_close int sk = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	cleanup_free char *buf = malloc(NFT_BUF);

	if (sk < 0 || !buf) {
		pr_perror("can't open a netfilter netlink socket in pid %d's net namespace", pid);
		return -1;
	}
	int tries = 0;
again:
	if (send(sk, &req, sizeof(req), 0) < 0) {
		pr_perror("can't ask for pid %d's net namespace's nftables tables", pid);
		return -1;
	}
	for (;;) {
		ssize_t n = recv(sk, buf, NFT_BUF, 0);
		if (n < 0) {
			pr_perror("can't read pid %d's net namespace's nftables tables", pid);
			return -1;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)) || !e->error)
					return 0;
				/* EAGAIN: the kernel just loaded nf_tables for the request, ask again */
				if (e->error == -EAGAIN && tries++ < 3)
					goto again;
				/* no nf_tables here (EINVAL: no such nfnetlink subsystem): nothing in it */
				if (e->error == -EINVAL || e->error == -EPROTONOSUPPORT || e->error == -ENOENT)
					return 0;
				errno = -e->error;
				pr_perror("can't list pid %d's net namespace's nftables tables", pid);
				return -1;
			}
			if (h->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE)) {
				const struct nfgenmsg *g = NLMSG_DATA(h);
				const char *name = "?";
				int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*g));
				for (const struct nlattr *a = (const void *)((const char *)g + NLMSG_ALIGN(sizeof(*g)));
				     len >= (int)sizeof(*a) && a->nla_len >= sizeof(*a) && a->nla_len <= len;
				     len -= NLA_ALIGN(a->nla_len), a = (const void *)((const char *)a + NLA_ALIGN(a->nla_len)))
					if ((a->nla_type & NLA_TYPE_MASK) == NFTA_TABLE_NAME &&
					    a->nla_len > NLA_HDRLEN && ((const char *)a)[a->nla_len - 1] == '\0')
						name = (const char *)a + NLA_HDRLEN;
				pr_err("pid %d's net namespace holds the nftables table '%s' (family %u): firewall "
				       "rules are not carried\n", pid, name, g->nfgen_family);
				errno = ENOTSUP;
				return -1;
			}
		}
	}
}

/* A legacy table as the kernel makes it: the built-in chains' policies, ACCEPT, and the
 * error entry, nothing else. The entries of iptables and ip6tables differ only in their
 * headers; hdr is the size of one's fixed part, whose target_offset and next_offset
 * are at toff. */
struct ipt_kind {
	int level, info, entries;
	const char *cmd, *names;
	size_t entry_hdr, toff;
};

static const struct ipt_kind ipt_kinds[] = {
	{ IPPROTO_IP, IPT_SO_GET_INFO, IPT_SO_GET_ENTRIES, "iptables-legacy", "/proc/thread-self/net/ip_tables_names",
	  sizeof(struct ipt_entry), offsetof(struct ipt_entry, target_offset) },
	{ IPPROTO_IPV6, IP6T_SO_GET_INFO, IP6T_SO_GET_ENTRIES, "ip6tables-legacy",
	  "/proc/thread-self/net/ip6_tables_names", sizeof(struct ip6t_entry), offsetof(struct ip6t_entry, target_offset) },
};

static int legacy_table_empty(pid_t pid, const struct ipt_kind *k, int sk, const char *table)
{
	struct ipt_getinfo info = { 0 };
	socklen_t len = sizeof(info);
	cleanup_free struct ipt_get_entries *ent = NULL;
	unsigned int hooks = 0, policies = 0;

	snprintf(info.name, sizeof(info.name), "%s", table);
	if (getsockopt(sk, k->level, k->info, &info, &len) < 0) {
		if (errno == ENOENT)
			return 0; /* gone meanwhile */
		pr_perror("can't read the %s table %s of pid %d's net namespace", k->cmd, table, pid);
		return -1;
	}
	if (info.size > IPT_MAX_TABLE) {
		pr_err("the %s table %s of pid %d's net namespace is %u bytes: firewall rules are not carried\n",
		       k->cmd, table, pid, info.size);
		errno = ENOTSUP;
		return -1;
	}
	for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++)
		if (info.valid_hooks & (1u << h))
			hooks++;
	if (info.num_entries != hooks + 1)
		goto rules;
	len = (socklen_t)(sizeof(*ent) + info.size);
	ent = calloc(1, len);
	if (!ent) {
		pr_perror("can't read the %s table %s", k->cmd, table);
		return -1;
	}
	snprintf(ent->name, sizeof(ent->name), "%s", table);
	ent->size = info.size;
	if (getsockopt(sk, k->level, k->entries, ent, &len) < 0) {
		pr_perror("can't read the %s table %s of pid %d's net namespace", k->cmd, table, pid);
		return -1;
	}
	/* each built-in chain's only entry is its policy: a standard target, ACCEPT */
	for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++) {
		const char *e;
		uint16_t toff, next;
		const struct xt_standard_target *t;
		if (!(info.valid_hooks & (1u << h)))
			continue;
		if (info.underflow[h] > info.size || info.size - info.underflow[h] < k->entry_hdr)
			goto rules;
		e = (const char *)ent->entrytable + info.underflow[h];
		memcpy(&toff, e + k->toff, sizeof(toff));
		memcpy(&next, e + k->toff + sizeof(toff), sizeof(next));
		if (toff < k->entry_hdr || toff > next || next > info.size - info.underflow[h] ||
		    (size_t)(next - toff) < sizeof(*t))
			goto rules;
		t = (const struct xt_standard_target *)(e + toff);
		if (t->target.u.user.name[0] != '\0' || t->verdict != -NF_ACCEPT - 1)
			goto rules;
		policies++;
	}
	if (policies == hooks)
		return 0;
rules:
	pr_err("pid %d's net namespace has rules or policies in the %s table %s (see `%s -t %s -S` in it): "
	       "firewall rules are not carried\n", pid, k->cmd, table, k->cmd, table);
	errno = ENOTSUP;
	return -1;
}

static int legacy_tables(pid_t pid, const struct ipt_kind *k)
{
	cleanup_free char *names = read_file_str(AT_FDCWD, k->names, 1 << 16, NULL);
	cleanup_close int sk = -1;
	char *save = NULL;

	if (!names)
		return errno == ENOENT ? 0 : -1; /* no ip_tables module: no table */
	for (char *t = strtok_r(names, "\n", &save); t; t = strtok_r(NULL, "\n", &save)) {
		if (sk < 0) {
			sk = socket(k->level == IPPROTO_IP ? AF_INET : AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
			if (sk < 0) {
				pr_perror("can't open a raw socket in pid %d's net namespace", pid);
				return -1;
			}
		}
		if (legacy_table_empty(pid, k, sk, t) < 0)
			return -1;
	}
	return 0;
}

int ns_netfw_check(pid_t pid)
{
	if (nft_tables(pid) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(ipt_kinds); i++)
		if (legacy_tables(pid, &ipt_kinds[i]) < 0)
			return -1;
	return 0;
}
