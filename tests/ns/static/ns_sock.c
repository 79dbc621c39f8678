/*
 * Sockets of a container's own network namespace (nsrun --ns pid,mnt,net, links and
 * addresses by net-setup.sh): a TCP listener on 10.77.1.1:7001 (the veth's far end),
 * a connection to it from 10.77.1.2 with 96 KiB queued towards the server and 40 KiB
 * towards the client, none of it read; an IPv6 listener on [fd00:77::2]:7003; a UDP
 * socket on 127.0.0.1:7002. The dump runs with --tcp-established; no network lock
 * is taken in a namespace of the tree's own.
 * After the restore: each side reads what was queued for it, in order; the two go on
 * talking; the listeners accept new connections (over IPv4 and IPv6); the UDP socket
 * gets a datagram sent to its address.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ztest.h"

#define TO_SERVER (96 << 10)
#define TO_CLIENT (40 << 10)

static int sock4(int type, const char *addr, int port, int do_bind)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, s = socket(AF_INET, type, 0);

	inet_pton(AF_INET, addr, &a.sin_addr);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (do_bind && bind(s, (struct sockaddr *)&a, sizeof(a)) < 0))
		fail("socket on %s:%d: %s", addr, port, strerror(errno));
	return s;
}

static void connect4(int s, const char *addr, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	inet_pton(AF_INET, addr, &a.sin_addr);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		fail("connect to %s:%d: %s", addr, port, strerror(errno));
}

static int read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;
		if (poll(&p, 1, 10000) <= 0)
			return -1;
		n = read(fd, buf + got, len - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int l, c, s, l6, u, one = 1;
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(7003) };
	char *to_server = malloc(TO_SERVER), *to_client = malloc(TO_CLIENT), *buf = malloc(TO_SERVER);

	test_init(argc, argv);
	if (!to_server || !to_client || !buf)
		fail("malloc");
	zt_fill(to_server, TO_SERVER, 0x51);
	zt_fill(to_client, TO_CLIENT, 0x52);

	l = sock4(SOCK_STREAM, "10.77.1.1", 7001, 1);
	if (listen(l, 8) < 0)
		fail("listen: %s", strerror(errno));
	c = sock4(SOCK_STREAM, "10.77.1.2", 0, 1);
	connect4(c, "10.77.1.1", 7001);
	s = accept(l, NULL, NULL);
	if (s < 0)
		fail("accept: %s", strerror(errno));
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (write_all(c, to_server, TO_SERVER) < 0 || write_all(s, to_client, TO_CLIENT) < 0)
		fail("queueing data: %s", strerror(errno));

	l6 = socket(AF_INET6, SOCK_STREAM, 0);
	inet_pton(AF_INET6, "fd00:77::2", &a6.sin6_addr);
	if (l6 < 0 || bind(l6, (struct sockaddr *)&a6, sizeof(a6)) < 0 || listen(l6, 4) < 0)
		fail("IPv6 listener: %s", strerror(errno));
	u = sock4(SOCK_DGRAM, "127.0.0.1", 7002, 1);

	test_ready();
	test_waitsig();
	if (test_self_fail)
		if (write(c, "x", 1) != 1)
			test_err("self-test write");

	/* what was queued, both ways */
	if (read_all(s, buf, TO_SERVER) < 0)
		test_err("the server could not read the %d bytes queued for it: %s", TO_SERVER, strerror(errno));
	else if (memcmp(buf, to_server, TO_SERVER))
		test_err("the bytes queued for the server differ");
	if (read_all(c, buf, TO_CLIENT) < 0)
		test_err("the client could not read the %d bytes queued for it: %s", TO_CLIENT, strerror(errno));
	else if (memcmp(buf, to_client, TO_CLIENT))
		test_err("the bytes queued for the client differ");
	/* the connection goes on */
	if (write_all(c, "ping", 4) < 0 || read_all(s, buf, 4) < 0 || memcmp(buf, "ping", 4) ||
	    write_all(s, "pong", 4) < 0 || read_all(c, buf, 4) < 0 || memcmp(buf, "pong", 4))
		test_err("ping-pong over the restored connection: %s", strerror(errno));
	{
		/* nothing more than that: the self-test's extra byte shows here */
		struct pollfd p = { s, POLLIN, 0 };
		if (poll(&p, 1, 100) > 0)
			test_err("the server has more to read than was sent");
	}
	/* the listeners */
	{
		int c2 = sock4(SOCK_STREAM, "10.77.1.2", 0, 0), s2;
		connect4(c2, "10.77.1.1", 7001);
		s2 = accept(l, NULL, NULL);
		if (s2 < 0 || write_all(c2, "new", 3) < 0 || read_all(s2, buf, 3) < 0 || memcmp(buf, "new", 3))
			test_err("a new connection to the restored listener: %s", strerror(errno));
		close(c2);
		if (s2 >= 0)
			close(s2);
	}
	{
		int c6 = socket(AF_INET6, SOCK_STREAM, 0), s6;
		if (c6 < 0 || connect(c6, (struct sockaddr *)&a6, sizeof(a6)) < 0)
			test_err("connecting to [fd00:77::2]:7003: %s", strerror(errno));
		else if ((s6 = accept(l6, NULL, NULL)) < 0)
			test_err("accept on the IPv6 listener: %s", strerror(errno));
		else
			close(s6);
		if (c6 >= 0)
			close(c6);
	}
	{
		int u2 = sock4(SOCK_DGRAM, "127.0.0.1", 0, 0);
		connect4(u2, "127.0.0.1", 7002);
		if (write(u2, "dgram", 5) != 5 || read_all(u, buf, 5) < 0 || memcmp(buf, "dgram", 5))
			test_err("a datagram to the restored UDP socket: %s", strerror(errno));
		close(u2);
	}
	test_result();
}
