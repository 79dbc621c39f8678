/* Established TCP connections with both ends in the tree (dump --tcp-established):
 * a parent and its child connected over IPv4, IPv6 and a v4-mapped IPv6 address
 * (a dual-stack listener). On each connection, data queued both ways: bytes the
 * receiver has not read, and, on the v4 connection, bytes the sender could not
 * even send (the receiver's window is full: unsent data in the send queue). Socket
 * options: TCP_NODELAY, keepalive (SO_KEEPALIVE, TCP_KEEPIDLE/INTVL/CNT),
 * TCP_USER_TIMEOUT, SO_SNDBUF, IP_TOS, SO_MARK; O_NONBLOCK on one end.
 * After restore: names, options and flags unchanged, every byte queued arrives in
 * order, then a ping-pong on each connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "ztest.h"

#define NCONN 3
#define DOWN_DATA 100000 /* parent -> child, queued */
#define UP_DATA 30000    /* child -> parent, queued */
#define BIG_DATA (4u << 20) /* v4: parent -> child, more than the window: some of it unsent */

struct conn {
	int family;
	const char *name;
	int lfd, pfd, cfd; /* listener, parent's end, child's end */
	struct sockaddr_storage pname, cname;
};

struct sync {
	int child_ready;
	int go;
	int child_done;
	int big_sent; /* bytes of the big transfer the parent wrote (some unsent at dump) */
};

static struct conn conns[NCONN] = {
	{ AF_INET, "v4", -1, -1, -1, { 0 }, { 0 } },
	{ AF_INET6, "v6", -1, -1, -1, { 0 }, { 0 } },
	{ AF_INET6, "v4-mapped", -1, -1, -1, { 0 }, { 0 } },
};
static struct sync *s;
static unsigned char buf[BIG_DATA];
static unsigned char rbuf[BIG_DATA];

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

static void make_conn(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t l;
	int one = 1;

	memset(&ss, 0, sizeof(ss));
	c->lfd = socket(c->family, SOCK_STREAM, 0);
	if (c->lfd < 0)
		fail("socket: %m");
	if (c->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		l = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		int v6only = strcmp(c->name, "v6") == 0;
		setsockopt(c->lfd, SOL_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = v6only ? in6addr_loopback : in6addr_any;
		l = sizeof(*sin6);
	}
	setsockopt(c->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(c->lfd, (struct sockaddr *)&ss, l) < 0 || listen(c->lfd, 4) < 0)
		fail("%s: bind/listen: %m", c->name);
	l = sizeof(ss);
	getsockname(c->lfd, (struct sockaddr *)&ss, &l);
	if (!strcmp(c->name, "v4-mapped"))
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &((struct sockaddr_in6 *)&ss)->sin6_addr);
	c->cfd = socket(c->family, SOCK_STREAM, 0);
	if (c->cfd < 0 || connect(c->cfd, (struct sockaddr *)&ss, l) < 0)
		fail("%s: connect: %m", c->name);
	c->pfd = accept(c->lfd, NULL, NULL);
	if (c->pfd < 0)
		fail("%s: accept: %m", c->name);
	l = sizeof(c->pname);
	getsockname(c->pfd, (struct sockaddr *)&c->pname, &l);
	l = sizeof(c->cname);
	getsockname(c->cfd, (struct sockaddr *)&c->cname, &l);
	close(c->lfd); /* the connection stays; the listener is tcp_listen's business */
	c->lfd = -1;
}

/* Write what fits within wait_ms of no progress. */
static int write_full(int fd, const void *p, size_t len, int wait_ms)
{
	size_t n = 0;

	while (n < len) {
		ssize_t r = send(fd, (const char *)p + n, len - n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0 && errno == EAGAIN) {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };
			if (poll(&pf, 1, wait_ms) == 0)
				break; /* the peer does not read: leave the rest */
			continue;
		}
		if (r <= 0)
			break;
		n += r;
	}
	return (int)n;
}

static size_t read_full(int fd, void *p, size_t len)
{
	size_t n = 0;

	while (n < len) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t r;
		if (poll(&pf, 1, 20000) != 1)
			break;
		r = read(fd, (char *)p + n, len - n);
		if (r < 0 && errno == EAGAIN)
			continue;
		if (r <= 0)
			break;
		n += r;
	}
	return n;
}

static void check_names(struct conn *c, int fd, const struct sockaddr_storage *want, const char *who)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &l) < 0 || memcmp(&ss, want, l))
		test_err("%s: %s's address changed", c->name, who);
}

static void child(void)
{
	test_child_reset();
	for (int i = 0; i < NCONN; i++) {
		zt_fill(buf, UP_DATA, 0x100 + i);
		if (write(conns[i].cfd, buf, UP_DATA) != UP_DATA)
			test_err("child: %s: write: %m", conns[i].name);
	}
	zt_post(&s->child_ready, 1);
	if (zt_wait_ge(&s->go, 1, 3600))
		test_err("child: no go");
	for (int i = 0; i < NCONN; i++) {
		struct conn *c = &conns[i];
		int q = -1;
		check_names(c, c->cfd, &c->cname, "child");
		ioctl(c->cfd, SIOCINQ, &q);
		if (i && q < DOWN_DATA) /* v4: the child's small window keeps some in the parent's queue */
			test_err("child: %s: %d bytes queued to read, want at least %d", c->name, q, DOWN_DATA);
		if (read_full(c->cfd, rbuf, DOWN_DATA) != DOWN_DATA)
			test_err("child: %s: short read", c->name);
		else if (zt_verify(rbuf, DOWN_DATA, 0x200 + i) >= 0)
			test_err("child: %s: the data from the parent differs at %zd", c->name,
				 zt_verify(rbuf, DOWN_DATA, 0x200 + i));
	}
	/* the big transfer on v4: every byte the parent wrote, in order */
	if (read_full(conns[0].cfd, rbuf, s->big_sent) != (size_t)s->big_sent)
		test_err("child: v4: the %d bytes beyond the window did not all arrive", s->big_sent);
	else if (zt_verify(rbuf, s->big_sent & ~7, 0x300) >= 0)
		test_err("child: v4: the big transfer differs at %zd", zt_verify(rbuf, s->big_sent & ~7, 0x300));
	/* ping-pong */
	for (int i = 0; i < NCONN; i++) {
		char b[8];
		if (read_full(conns[i].cfd, b, 4) != 4 || memcmp(b, "ping", 4))
			test_err("child: %s: no ping", conns[i].name);
		else if (write(conns[i].cfd, "pong", 4) != 4)
			test_err("child: %s: pong: %m", conns[i].name);
	}
	test_child_exit();
}

int main(int argc, char **argv)
{
	pid_t pid;
	int st, nb;

	test_init(argc, argv);
	s = zt_shared(sizeof(*s));
	for (int i = 0; i < NCONN; i++)
		make_conn(&conns[i]);
	/* options on the parent's ends */
	setint(conns[0].pfd, SOL_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
	setint(conns[1].pfd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
	setint(conns[1].pfd, SOL_TCP, TCP_KEEPIDLE, 77, "TCP_KEEPIDLE");
	setint(conns[1].pfd, SOL_TCP, TCP_KEEPINTVL, 11, "TCP_KEEPINTVL");
	setint(conns[1].pfd, SOL_TCP, TCP_KEEPCNT, 5, "TCP_KEEPCNT");
	setint(conns[2].pfd, SOL_TCP, TCP_USER_TIMEOUT, 60000, "TCP_USER_TIMEOUT");
	setint(conns[2].pfd, SOL_IP, IP_TOS, 0x10, "IP_TOS");
	setint(conns[0].pfd, SOL_SOCKET, SO_MARK, 42, "SO_MARK");
	setint(conns[0].cfd, SOL_SOCKET, SO_RCVBUF, 65536, "SO_RCVBUF");
	fcntl(conns[0].pfd, F_SETFL, O_NONBLOCK);

	pid = fork();
	if (pid < 0)
		fail("fork: %m");
	if (pid == 0) {
		for (int i = 0; i < NCONN; i++)
			close(conns[i].pfd);
		child();
	}
	for (int i = 0; i < NCONN; i++)
		close(conns[i].cfd);
	if (zt_wait_ge(&s->child_ready, 1, 30))
		fail("the child is not ready");
	for (int i = 0; i < NCONN; i++) {
		zt_fill(buf, DOWN_DATA, 0x200 + i);
		if (write_full(conns[i].pfd, buf, DOWN_DATA, 5000) != DOWN_DATA)
			fail("%s: write: %m", conns[i].name);
	}
	/* more than the child's window: the rest waits in our send queue, partly unsent */
	zt_fill(buf, BIG_DATA, 0x300);
	s->big_sent = write_full(conns[0].pfd, buf, BIG_DATA, 200);
	nb = 0;
	ioctl(conns[0].pfd, SIOCOUTQNSD, &nb);
	test_msg("v4: %d bytes of the big transfer written, %d not sent yet", s->big_sent, nb);
	if (nb <= 0)
		fail("v4: nothing left unsent: the test can't show unsent data carried");
	test_ready();
	test_waitsig();

	for (int i = 0; i < NCONN; i++) {
		struct conn *c = &conns[i];
		int q = -1;
		check_names(c, c->pfd, &c->pname, "parent");
		ioctl(c->pfd, SIOCINQ, &q);
		if (q != UP_DATA)
			test_err("%s: %d bytes queued to read, want %d", c->name, q, UP_DATA);
		if (read_full(c->pfd, rbuf, UP_DATA) != UP_DATA)
			test_err("%s: short read", c->name);
		else if (zt_verify(rbuf, UP_DATA, 0x100 + i) >= 0)
			test_err("%s: the data from the child differs", c->name);
	}
	if (getint(conns[0].pfd, SOL_TCP, TCP_NODELAY) != 1)
		test_err("v4: TCP_NODELAY lost");
	if (getint(conns[0].pfd, SOL_SOCKET, SO_MARK) != 42)
		test_err("v4: SO_MARK is %d, want 42", getint(conns[0].pfd, SOL_SOCKET, SO_MARK));
	if (!(fcntl(conns[0].pfd, F_GETFL) & O_NONBLOCK))
		test_err("v4: O_NONBLOCK lost");
	if (fcntl(conns[1].pfd, F_GETFL) & O_NONBLOCK)
		test_err("v6: O_NONBLOCK appeared");
	if (getint(conns[1].pfd, SOL_SOCKET, SO_KEEPALIVE) != 1 || getint(conns[1].pfd, SOL_TCP, TCP_KEEPIDLE) != 77 ||
	    getint(conns[1].pfd, SOL_TCP, TCP_KEEPINTVL) != 11 || getint(conns[1].pfd, SOL_TCP, TCP_KEEPCNT) != 5)
		test_err("v6: keepalive settings changed (%d %d %d %d)", getint(conns[1].pfd, SOL_SOCKET, SO_KEEPALIVE),
			 getint(conns[1].pfd, SOL_TCP, TCP_KEEPIDLE), getint(conns[1].pfd, SOL_TCP, TCP_KEEPINTVL),
			 getint(conns[1].pfd, SOL_TCP, TCP_KEEPCNT));
	if (getint(conns[2].pfd, SOL_TCP, TCP_USER_TIMEOUT) != 60000)
		test_err("v4-mapped: TCP_USER_TIMEOUT changed");
	if (getint(conns[2].pfd, SOL_IP, IP_TOS) != 0x10)
		test_err("v4-mapped: IP_TOS is 0x%x, want 0x10", getint(conns[2].pfd, SOL_IP, IP_TOS));
	if (test_self_fail)
		shutdown(conns[1].pfd, SHUT_WR);
	zt_post(&s->go, 1);
	for (int i = 0; i < NCONN; i++) {
		char b[8];
		if (write_full(conns[i].pfd, "ping", 4, 20000) != 4)
			test_err("%s: ping: %m", conns[i].name);
		if (read_full(conns[i].pfd, b, 4) != 4 || memcmp(b, "pong", 4))
			test_err("%s: no pong", conns[i].name);
	}
	if (zt_waitpid(pid, &st, 60, "the child") == 0 && (!WIFEXITED(st) || WEXITSTATUS(st)))
		test_err("the child failed (status 0x%x)", st);
	test_result();
}
