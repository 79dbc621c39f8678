/*
 * The network lock (CRIU's --network-lock iptables|nftables|skip): while a tree's
 * TCP connections are dumped, and until the restored tree runs, every packet of
 * them is dropped in both directions, so that the peer's retransmissions are
 * neither answered by a reset (nothing listens while the tree is gone) nor
 * acknowledged by a socket about to be killed: they get through once the lock is
 * lifted, and no byte is lost.
 *
 * iptables: a DROP rule a direction a connection in the filter table's INPUT and
 * OUTPUT chains (iptables-restore/ip6tables-restore, the system's backend), each
 * tagged with the comment "criu-lite". nftables: one table of its own (inet
 * criu-lite-PID) with a set of connections and a drop rule in its input and output
 * hooks, through the nft tool, in one transaction each way. Packets marked
 * NETLOCK_MARK pass: restore injects a peer's FIN through them (tcp.c).
 */
#ifndef CRIU_LITE_NETLOCK_H
#define CRIU_LITE_NETLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The methods, as --network-lock and the images number them (net.proto). */
#define NETLOCK_IPTABLES 1
#define NETLOCK_NFTABLES 2
#define NETLOCK_SKIP 3
/* how an iptables lock was taken (the images say so, for the unlock): the legacy
 * x_tables through iptables-legacy-restore, as CRIU prefers it (4 ms a change here
 * against 13 ms through the nf_tables backend's iptables-restore) */
#define NETLOCK_IPTABLES_LEGACY 4

#define NETLOCK_MARK 0xc114u

struct netlock_conn {
	int family;        /* AF_INET or AF_INET6; a v4-mapped IPv6 connection is given as AF_INET */
	uint8_t src[16];   /* ours */
	uint8_t dst[16];   /* the peer's */
	uint16_t sport, dport;
};

/* The nftables table of the tree rooted at root. */
void netlock_table_name(pid_t root, char *buf, size_t len);

/* Lock the connections: *ret_used is the method as taken (NETLOCK_IPTABLES asks for
 * iptables-legacy-restore first, then iptables-restore), for netlock_unlock(). 0, or
 * -1 (logged) with nothing locked. */
int netlock_lock(int method, const char *table, const struct netlock_conn *c, size_t n, int *ret_used);
/* Lift the lock of those connections (method: as taken); rules already gone are
 * warned about, not errors. 0 or -1 (logged). */
int netlock_unlock(int method, const char *table, const struct netlock_conn *c, size_t n);

/* The script that locks (lock) or unlocks the connections, as the tool reads it
 * (iptables-restore: v6 false/true for the IPv4/IPv6 rules). NULL (logged) on
 * allocation failure; free() it. (Pure: unit-tested.) */
char *netlock_script(int method, const char *table, const struct netlock_conn *c, size_t n, bool v6, bool lock);

/* Whether a method works here: in a child of ours, in a network namespace of its
 * own, a connection is locked and unlocked. legacy: iptables-legacy-restore instead
 * of iptables-restore. 0 (works) or -1, with what happened in detail. */
int netlock_probe(int method, bool legacy, char *detail, size_t len);

#endif
