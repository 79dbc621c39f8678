/*
 * sock_diag (NETLINK_SOCK_DIAG) through libnl: what the kernel says of every socket
 * of a family in criu-lite's network namespace, found by inode. The network kinds
 * (inet.c, netlink.c, packet.c) read what getsockopt() can't tell from it: a
 * socket's shutdown state, a listener's accept queue, a netlink socket's groups and
 * peer, a packet socket's rings, fanout and memberships; and the network lock
 * finds the tree's TCP connections by it before any fd is touched.
 *
 * One dump per (family, protocol), made the first time it is asked for and kept
 * until netdiag_free().
 */
#ifndef CRIU_LITE_FILES_NETDIAG_H
#define CRIU_LITE_FILES_NETDIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netdiag_mc {
	uint32_t ifindex;
	uint16_t type, alen;
	uint8_t addr[32];
};

struct netdiag_rec {
	uint64_t ino;
	uint8_t family, protocol, state, type;
	/* inet */
	uint8_t shutdown;       /* 1 receive side, 2 send side */
	bool has_shutdown;
	uint32_t rqueue, wqueue; /* listeners: accept queue and backlog */
	uint8_t src[16], dst[16];
	uint16_t sport, dport;  /* host order */
	uint32_t ifindex;
	bool has_md5;           /* TCP: MD5 signature keys (TCP_MD5SIG) */
	/* netlink */
	uint32_t portid, dst_portid, dst_group, nl_flags;
	uint32_t *groups;       /* the group bitmap in 32-bit words */
	size_t nr_groups;
	/* packet */
	bool has_info, has_rings, has_fanout, has_filter;
	uint32_t pk_index, pk_version, pk_reserve, pk_copy_thresh, pk_tstamp, pk_flags;
	struct netdiag_mc *mc;
	size_t nr_mc;
};

struct netdiag;

struct netdiag *netdiag_new(void);
void netdiag_free(struct netdiag *d);
/* Open its netlink socket now (done at the first query otherwise): sock_diag answers
 * for the network namespace the socket is made in. 0 or -1 (logged). */
int netdiag_connect(struct netdiag *d);

/*
 * The socket with inode ino of that family (AF_INET, AF_INET6, AF_NETLINK,
 * AF_PACKET) and, for inet, protocol (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE).
 * Returns 1 with *ret set, 0 if the kernel lists no such socket, -1 on error
 * (logged: sock_diag could not be asked).
 */
int netdiag_find(struct netdiag *d, int family, int protocol, uint64_t ino, const struct netdiag_rec **ret);

#endif
