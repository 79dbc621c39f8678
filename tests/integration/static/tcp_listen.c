/* TCP sockets that are not connections: listeners on IPv4 (backlog 7, SO_REUSEADDR,
 * TCP_DEFER_ACCEPT, a locked SO_RCVBUF, bound to the device lo, O_NONBLOCK), on
 * IPv6 ::1 only (IPV6_V6ONLY, TCP_MAXSEG, two listeners sharing a port with
 * SO_REUSEPORT), dual-stack on [::] (a v4 client comes in v4-mapped); a socket
 * bound but not listening; an unbound one with options. After restore: names,
 * backlogs, options and flags unchanged, and each listener accepts new
 * connections (the v4-mapped one sees its peer as ::ffff:127.0.0.1). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ztest.h"

struct sk {
	const char *name;
	int fd;
	struct sockaddr_storage addr;
	socklen_t alen;
};

enum { L4, L6, L6B, LDUAL, BOUND, UNBOUND, NSK };
static struct sk sks[NSK] = {
	[L4] = { "v4 listener", -1, { 0 }, 0 },
	[L6] = { "v6 listener", -1, { 0 }, 0 },
	[L6B] = { "second v6 listener (SO_REUSEPORT)", -1, { 0 }, 0 },
	[LDUAL] = { "dual-stack listener", -1, { 0 }, 0 },
	[BOUND] = { "bound socket", -1, { 0 }, 0 },
	[UNBOUND] = { "unbound socket", -1, { 0 }, 0 },
};

static int getint(int fd, int level, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);

	if (getsockopt(fd, level, opt, &v, &l) < 0)
		return -1;
	return v;
}

static void setint(int fd, int level, int opt, int v, const char *name)
{
	if (setsockopt(fd, level, opt, &v, sizeof(v)) < 0)
		fail("setsockopt %s: %m", name);
}

static void do_bind(struct sk *s, int family, const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t l;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		inet_pton(AF_INET, addr, &sin->sin_addr);
		l = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &sin6->sin6_addr);
		l = sizeof(*sin6);
	}
	if (bind(s->fd, (struct sockaddr *)&ss, l) < 0)
		fail("%s: bind: %m", s->name);
	s->alen = sizeof(s->addr);
	getsockname(s->fd, (struct sockaddr *)&s->addr, &s->alen);
}

static int port_of(const struct sk *s)
{
	return ntohs(((const struct sockaddr_in *)&s->addr)->sin_port);
}

static int backlog_of(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, SOL_TCP, TCP_INFO, &ti, &l) < 0)
		return -1;
	return (int)ti.tcpi_sacked;
}

/* A new connection to a listener, from family/addr; the accepted end's peer. */
static void try_accept(struct sk *l, int family, const char *addr, const char *want_peer)
{
	struct sockaddr_storage ss, peer;
	socklen_t sl, pl = sizeof(peer);
	int c, a;
	char buf[INET6_ADDRSTRLEN];
	struct pollfd pf = { .fd = l->fd, .events = POLLIN };

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port_of(l));
		inet_pton(AF_INET, addr, &sin->sin_addr);
		sl = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port_of(l));
		inet_pton(AF_INET6, addr, &sin6->sin6_addr);
		sl = sizeof(*sin6);
	}
	c = socket(family, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&ss, sl) < 0) {
		test_err("%s: connect from %s: %m", l->name, addr);
		close(c);
		return;
	}
	if (write(c, "x", 1) != 1)
		test_err("%s: write: %m", l->name);
	/* TCP_DEFER_ACCEPT: readable once data came */
	if (poll(&pf, 1, 10000) != 1) {
		test_err("%s: no connection to accept", l->name);
		close(c);
		return;
	}
	a = accept(l->fd, (struct sockaddr *)&peer, &pl);
	if (a < 0) {
		test_err("%s: accept: %m", l->name);
	} else {
		const void *pa = peer.ss_family == AF_INET ? (const void *)&((struct sockaddr_in *)&peer)->sin_addr
							   : (const void *)&((struct sockaddr_in6 *)&peer)->sin6_addr;
		inet_ntop(peer.ss_family, pa, buf, sizeof(buf));
		if (strcmp(buf, want_peer))
			test_err("%s: the peer is %s, want %s", l->name, buf, want_peer);
		close(a);
	}
	close(c);
}

static void check_name(struct sk *s)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	if (getsockname(s->fd, (struct sockaddr *)&ss, &l) < 0 || l != s->alen || memcmp(&ss, &s->addr, l))
		test_err("%s: its address changed", s->name);
}

int main(int argc, char **argv)
{
	char dev[IFNAMSIZ] = "";
	socklen_t dl = sizeof(dev);

	test_init(argc, argv);
	sks[L4].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setint(sks[L4].fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
	setint(sks[L4].fd, SOL_TCP, TCP_DEFER_ACCEPT, 5, "TCP_DEFER_ACCEPT");
	setint(sks[L4].fd, SOL_SOCKET, SO_RCVBUF, 100000, "SO_RCVBUF");
	if (setsockopt(sks[L4].fd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 2) < 0)
		fail("SO_BINDTODEVICE: %m");
	do_bind(&sks[L4], AF_INET, "127.0.0.1", 0);
	if (listen(sks[L4].fd, 7) < 0)
		fail("listen: %m");

	sks[L6].fd = socket(AF_INET6, SOCK_STREAM, 0);
	setint(sks[L6].fd, SOL_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
	setint(sks[L6].fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
	setint(sks[L6].fd, SOL_TCP, TCP_MAXSEG, 1000, "TCP_MAXSEG");
	do_bind(&sks[L6], AF_INET6, "::1", 0);
	if (listen(sks[L6].fd, 3) < 0)
		fail("listen: %m");
	sks[L6B].fd = socket(AF_INET6, SOCK_STREAM, 0);
	setint(sks[L6B].fd, SOL_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
	setint(sks[L6B].fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
	do_bind(&sks[L6B], AF_INET6, "::1", port_of(&sks[L6]));
	if (listen(sks[L6B].fd, 3) < 0)
		fail("listen: %m");

	sks[LDUAL].fd = socket(AF_INET6, SOCK_STREAM, 0);
	setint(sks[LDUAL].fd, SOL_IPV6, IPV6_V6ONLY, 0, "IPV6_V6ONLY");
	do_bind(&sks[LDUAL], AF_INET6, "::", 0);
	if (listen(sks[LDUAL].fd, 128) < 0)
		fail("listen: %m");

	sks[BOUND].fd = socket(AF_INET, SOCK_STREAM, 0);
	do_bind(&sks[BOUND], AF_INET, "127.0.0.1", 0);

	sks[UNBOUND].fd = socket(AF_INET6, SOCK_STREAM, 0);
	setint(sks[UNBOUND].fd, SOL_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
	setint(sks[UNBOUND].fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
	setint(sks[UNBOUND].fd, SOL_TCP, TCP_KEEPIDLE, 99, "TCP_KEEPIDLE");
	setint(sks[UNBOUND].fd, SOL_IPV6, IPV6_TCLASS, 0x20, "IPV6_TCLASS");
	sks[UNBOUND].alen = sizeof(sks[UNBOUND].addr);
	getsockname(sks[UNBOUND].fd, (struct sockaddr *)&sks[UNBOUND].addr, &sks[UNBOUND].alen);

	test_ready();
	test_waitsig();
	if (test_self_fail)
		setint(sks[L4].fd, SOL_TCP, TCP_DEFER_ACCEPT, 0, "TCP_DEFER_ACCEPT");

	for (int i = 0; i < NSK; i++)
		check_name(&sks[i]);
	if (backlog_of(sks[L4].fd) != 7 || backlog_of(sks[L6].fd) != 3 || backlog_of(sks[LDUAL].fd) != 128)
		test_err("backlogs are %d %d %d, want 7 3 128", backlog_of(sks[L4].fd), backlog_of(sks[L6].fd),
			 backlog_of(sks[LDUAL].fd));
	if (!(fcntl(sks[L4].fd, F_GETFL) & O_NONBLOCK) || (fcntl(sks[L6].fd, F_GETFL) & O_NONBLOCK))
		test_err("O_NONBLOCK changed");
	if (getint(sks[L4].fd, SOL_SOCKET, SO_REUSEADDR) != 1 || getint(sks[L6].fd, SOL_SOCKET, SO_REUSEADDR) != 0)
		test_err("SO_REUSEADDR changed");
	if (getint(sks[L6].fd, SOL_SOCKET, SO_REUSEPORT) != 1 || getint(sks[L6B].fd, SOL_SOCKET, SO_REUSEPORT) != 1 ||
	    getint(sks[L4].fd, SOL_SOCKET, SO_REUSEPORT) != 0)
		test_err("SO_REUSEPORT changed");
	if (getint(sks[L4].fd, SOL_TCP, TCP_DEFER_ACCEPT) <= 0)
		test_err("TCP_DEFER_ACCEPT lost");
	if (getint(sks[L4].fd, SOL_SOCKET, SO_RCVBUF) != 200000)
		test_err("SO_RCVBUF is %d, want 200000", getint(sks[L4].fd, SOL_SOCKET, SO_RCVBUF));
	if (getsockopt(sks[L4].fd, SOL_SOCKET, SO_BINDTODEVICE, dev, &dl) < 0 || strcmp(dev, "lo"))
		test_err("SO_BINDTODEVICE is '%s', want lo", dev);
	if (getint(sks[L6].fd, SOL_IPV6, IPV6_V6ONLY) != 1 || getint(sks[LDUAL].fd, SOL_IPV6, IPV6_V6ONLY) != 0)
		test_err("IPV6_V6ONLY changed");
	if (getint(sks[L6].fd, SOL_TCP, TCP_MAXSEG) != 1000)
		test_err("TCP_MAXSEG is %d, want 1000", getint(sks[L6].fd, SOL_TCP, TCP_MAXSEG));
	if (getint(sks[UNBOUND].fd, SOL_TCP, TCP_NODELAY) != 1 || getint(sks[UNBOUND].fd, SOL_SOCKET, SO_KEEPALIVE) != 1 ||
	    getint(sks[UNBOUND].fd, SOL_TCP, TCP_KEEPIDLE) != 99 || getint(sks[UNBOUND].fd, SOL_IPV6, IPV6_TCLASS) != 0x20)
		test_err("the unbound socket's options changed");

	try_accept(&sks[L4], AF_INET, "127.0.0.1", "127.0.0.1");
	close(sks[L6B].fd); /* the port's group is L6 alone again: the new connection comes to it */
	try_accept(&sks[L6], AF_INET6, "::1", "::1");
	try_accept(&sks[LDUAL], AF_INET, "127.0.0.1", "::ffff:127.0.0.1");
	try_accept(&sks[LDUAL], AF_INET6, "::1", "::1");
	/* the bound socket can still listen at its port, the unbound one connect */
	if (listen(sks[BOUND].fd, 1) < 0)
		test_err("the bound socket can't listen: %m");
	else
		try_accept(&sks[BOUND], AF_INET, "127.0.0.1", "127.0.0.1");
	{
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port_of(&sks[L6])),
					     .sin6_addr = IN6ADDR_LOOPBACK_INIT };
		if (connect(sks[UNBOUND].fd, (struct sockaddr *)&sin6, sizeof(sin6)) < 0)
			test_err("the unbound socket can't connect: %m");
	}
	test_result();
}
