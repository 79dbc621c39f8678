/*
 * Socket options of the network kinds (inet.c, netlink.c, packet.c): one table of
 * (level, option, image field). Dump records an option when its value differs from
 * that of a new socket of the same family, type and protocol (so what the user set,
 * not what the kernel tuned), and restore sets what was recorded.
 */
#ifndef CRIU_LITE_FILES_SOCKOPT_H
#define CRIU_LITE_FILES_SOCKOPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "images/image.h"

/* Which sockets an option applies to (struct sko_sock.mask). */
#define SKO_SOCK 0x01u  /* every socket */
#define SKO_IP 0x02u    /* AF_INET and AF_INET6 (SOL_IP options reach both) */
#define SKO_IPV6 0x04u  /* AF_INET6 */
#define SKO_TCP 0x08u
#define SKO_UDP 0x10u   /* UDP and UDP-Lite */
#define SKO_RAW 0x20u   /* SOCK_RAW of AF_INET/AF_INET6 */
#define SKO_ICMP4 0x40u /* SOCK_RAW IPPROTO_ICMP of AF_INET */
#define SKO_ICMP6 0x80u /* SOCK_RAW IPPROTO_ICMPV6 of AF_INET6 */

/* The socket an option table is read from or written to. */
struct sko_sock {
	int fd;
	int family, type, protocol;
	unsigned mask;      /* SKO_* */
	bool connected;     /* TCP: a connection (TCP_MAXSEG is then the path's, not the user's) */
	const char *what;   /* for messages: "fd 3 of pid 42 (TCP 127.0.0.1:80)" */
};

/* The SKO_* mask of an inet socket. */
unsigned sko_inet_mask(int family, int type, int protocol);

/* Read every option of the table that applies to s into a new entry (*ret).
 * 0 or -1 (logged). */
int sko_dump(const struct sko_sock *s, SkOptsEntry **ret);

/* Set every option recorded in o but SO_REUSEADDR and SO_REUSEPORT (which the
 * kinds set themselves around bind) and the buffers (sko_restore_bufs). 0 or -1
 * (logged). */
int sko_restore(const struct sko_sock *s, const SkOptsEntry *o);

/* SO_SNDBUF/SO_RCVBUF the user set (SO_BUF_LOCK), as recorded. 0 or -1 (logged). */
int sko_restore_bufs(const struct sko_sock *s, const SkOptsEntry *o);

/* SO_TYPE and SO_PROTOCOL of a socket. 0 or -1 (logged, naming what). */
int sko_type_proto(int fd, int *ret_type, int *ret_protocol, const char *what);

/* setsockopt() of an int; 0 or -1 (logged, naming the option and s->what). */
int sko_set_int(const struct sko_sock *s, int level, int opt, int val, const char *name);

/* The address of an inet entry (dst false: its own, true: its peer's) as a sockaddr
 * of its family. Returns its length. */
struct sockaddr_storage;
socklen_t sko_inet_addr(const InetSkEntry *ie, bool dst, struct sockaddr_storage *ss);
/* "127.0.0.1:80", "[::1]:80" for messages. */
const char *sko_addr_str(int family, const uint8_t *addr, uint32_t port, char *buf, size_t len);

#endif
