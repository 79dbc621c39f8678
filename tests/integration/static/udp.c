/* UDP and UDP-Lite sockets: bound on IPv4 (SO_BROADCAST, SO_PRIORITY, SO_RCVTIMEO,
 * IP_PKTINFO, IP_MULTICAST_TTL, O_NONBLOCK), bound on IPv6 ::1 (IPV6_V6ONLY,
 * IPV6_RECVPKTINFO), connected IPv4 (to the first), connected v4-mapped IPv6, a
 * UDP-Lite socket, an unbound one (SO_REUSEADDR, a locked SO_SNDBUF), and one
 * shut down for reading. Datagrams queued at dump are dropped (as CRIU does), so
 * none are left queued. After restore: names, peers, options and flags
 * unchanged, and datagrams flow between them (the connected ones only hear from
 * their peer; the v4-mapped one reaches the IPv4 socket). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "ztest.h"

#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE 136
#endif

enum { B4, B6, C4, CMAP, LITE, UNB, SHUT, NSK };
static const char *names[NSK] = { "bound v4", "bound v6", "connected v4", "connected v4-mapped",
				  "UDP-Lite", "unbound", "shut" };
static int fds[NSK];
static struct sockaddr_storage addr[NSK], peer[NSK];
static socklen_t alen[NSK], plen[NSK];

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

static void bind_to(int i, int family, const char *a)
{
	struct sockaddr_storage ss;
	socklen_t l;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		inet_pton(AF_INET, a, &sin->sin_addr);
		l = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, a, &sin6->sin6_addr);
		l = sizeof(*sin6);
	}
	if (bind(fds[i], (struct sockaddr *)&ss, l) < 0)
		fail("%s: bind: %m", names[i]);
}

static void connect_to(int i, const struct sockaddr *sa, socklen_t l)
{
	if (connect(fds[i], sa, l) < 0)
		fail("%s: connect: %m", names[i]);
}

static void remember(void)
{
	for (int i = 0; i < NSK; i++) {
		alen[i] = sizeof(addr[i]);
		getsockname(fds[i], (struct sockaddr *)&addr[i], &alen[i]);
		plen[i] = sizeof(peer[i]);
		if (getpeername(fds[i], (struct sockaddr *)&peer[i], &plen[i]) < 0)
			plen[i] = 0;
	}
}

/* A datagram from fds[from] to fds[to]'s address (or its connected peer). */
static void exchange(int from, int to, const char *msg)
{
	char b[64];
	struct pollfd pf = { .fd = fds[to], .events = POLLIN };
	ssize_t n;

	if (plen[from])
		n = send(fds[from], msg, strlen(msg), 0);
	else
		n = sendto(fds[from], msg, strlen(msg), 0, (struct sockaddr *)&addr[to], alen[to]);
	if (n != (ssize_t)strlen(msg)) {
		test_err("%s -> %s: send: %m", names[from], names[to]);
		return;
	}
	if (poll(&pf, 1, 5000) != 1) {
		test_err("%s -> %s: nothing arrived", names[from], names[to]);
		return;
	}
	n = recv(fds[to], b, sizeof(b) - 1, 0);
	if (n < 0 || (b[n] = 0, strcmp(b, msg)))
		test_err("%s -> %s: got '%s'", names[from], names[to], n < 0 ? "(error)" : b);
}

int main(int argc, char **argv)
{
	struct timeval tv = { 7, 500000 }, got;
	socklen_t tl = sizeof(got);
	struct sockaddr_in6 mapped;

	test_init(argc, argv);
	fds[B4] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	setint(fds[B4], SOL_SOCKET, SO_BROADCAST, 1, "SO_BROADCAST");
	setint(fds[B4], SOL_SOCKET, SO_PRIORITY, 5, "SO_PRIORITY");
	setint(fds[B4], SOL_IP, IP_PKTINFO, 1, "IP_PKTINFO");
	setint(fds[B4], SOL_IP, IP_MULTICAST_TTL, 9, "IP_MULTICAST_TTL");
	if (setsockopt(fds[B4], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		fail("SO_RCVTIMEO: %m");
	bind_to(B4, AF_INET, "127.0.0.1");

	fds[B6] = socket(AF_INET6, SOCK_DGRAM, 0);
	setint(fds[B6], SOL_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
	setint(fds[B6], SOL_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
	bind_to(B6, AF_INET6, "::1");

	remember();
	fds[C4] = socket(AF_INET, SOCK_DGRAM, 0);
	connect_to(C4, (struct sockaddr *)&addr[B4], alen[B4]);

	fds[CMAP] = socket(AF_INET6, SOCK_DGRAM, 0);
	memset(&mapped, 0, sizeof(mapped));
	mapped.sin6_family = AF_INET6;
	mapped.sin6_port = ((struct sockaddr_in *)&addr[B4])->sin_port;
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &mapped.sin6_addr);
	connect_to(CMAP, (struct sockaddr *)&mapped, sizeof(mapped));

	fds[LITE] = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
	if (fds[LITE] < 0)
		fail("UDP-Lite: %m");
	bind_to(LITE, AF_INET, "127.0.0.1");

	fds[UNB] = socket(AF_INET, SOCK_DGRAM, 0);
	setint(fds[UNB], SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
	setint(fds[UNB], SOL_SOCKET, SO_SNDBUF, 50000, "SO_SNDBUF");

	fds[SHUT] = socket(AF_INET, SOCK_DGRAM, 0);
	bind_to(SHUT, AF_INET, "127.0.0.1");
	shutdown(fds[SHUT], SHUT_RD);
	remember();
	/* one datagram queued at dump: dropped (or not: nothing depends on it) */
	exchange(C4, B4, "before");

	test_ready();
	test_waitsig();
	if (test_self_fail)
		setint(fds[B4], SOL_SOCKET, SO_PRIORITY, 0, "SO_PRIORITY");

	for (int i = 0; i < NSK; i++) {
		struct sockaddr_storage ss;
		socklen_t l = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		if (getsockname(fds[i], (struct sockaddr *)&ss, &l) < 0 || l != alen[i] || memcmp(&ss, &addr[i], l))
			test_err("%s: its address changed", names[i]);
		l = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		if (getpeername(fds[i], (struct sockaddr *)&ss, &l) < 0)
			l = 0;
		if (l != plen[i] || memcmp(&ss, &peer[i], l))
			test_err("%s: its peer changed", names[i]);
	}
	if (getint(fds[B4], SOL_SOCKET, SO_BROADCAST) != 1 || getint(fds[B4], SOL_SOCKET, SO_PRIORITY) != 5 ||
	    getint(fds[B4], SOL_IP, IP_PKTINFO) != 1 || getint(fds[B4], SOL_IP, IP_MULTICAST_TTL) != 9)
		test_err("bound v4: options changed");
	if (getsockopt(fds[B4], SOL_SOCKET, SO_RCVTIMEO, &got, &tl) < 0 || got.tv_sec != 7 || got.tv_usec != 500000)
		test_err("bound v4: SO_RCVTIMEO changed");
	if (!(fcntl(fds[B4], F_GETFL) & O_NONBLOCK) || (fcntl(fds[B6], F_GETFL) & O_NONBLOCK))
		test_err("O_NONBLOCK changed");
	if (getint(fds[B6], SOL_IPV6, IPV6_V6ONLY) != 1 || getint(fds[B6], SOL_IPV6, IPV6_RECVPKTINFO) != 1)
		test_err("bound v6: options changed");
	if (getint(fds[LITE], SOL_SOCKET, SO_PROTOCOL) != IPPROTO_UDPLITE)
		test_err("UDP-Lite: the protocol is %d", getint(fds[LITE], SOL_SOCKET, SO_PROTOCOL));
	if (getint(fds[UNB], SOL_SOCKET, SO_REUSEADDR) != 1 || getint(fds[UNB], SOL_SOCKET, SO_SNDBUF) != 100000)
		test_err("unbound: options changed (SO_SNDBUF %d)", getint(fds[UNB], SOL_SOCKET, SO_SNDBUF));
	{
		struct pollfd pf[2] = { { .fd = fds[SHUT], .events = POLLRDHUP }, { .fd = fds[B6], .events = POLLRDHUP } };
		poll(pf, 2, 0);
		if (!(pf[0].revents & POLLRDHUP) || (pf[1].revents & POLLRDHUP))
			test_err("the receive side's shutdown changed (0x%x 0x%x)", pf[0].revents, pf[1].revents);
	}
	/* what was queued may or may not be there: drain it */
	while (recv(fds[B4], (char[64]){ 0 }, 64, MSG_DONTWAIT) > 0)
		;
	exchange(C4, B4, "v4 connected -> bound");
	exchange(CMAP, B4, "v4-mapped -> bound v4");
	exchange(B6, B6, "v6 to itself");
	exchange(LITE, LITE, "UDP-Lite to itself");
	exchange(UNB, B4, "unbound -> bound v4");
	/* a connected socket hears only from its peer */
	{
		char b[16];
		if (sendto(fds[B4], "x", 1, 0, (struct sockaddr *)&addr[C4], alen[C4]) != 1)
			test_err("bound v4 -> connected: %m");
		struct pollfd pf = { .fd = fds[C4], .events = POLLIN };
		if (poll(&pf, 1, 5000) != 1 || recv(fds[C4], b, sizeof(b), 0) != 1)
			test_err("connected v4: nothing from its peer");
		if (sendto(fds[B6], "y", 1, 0, (struct sockaddr *)&addr[C4], alen[C4]) >= 0) {
			/* from another address: dropped (v6 can't even reach it) */
		}
	}
	test_result();
}
