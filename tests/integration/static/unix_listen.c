/* Listening unix sockets and their queues: a stream listener on a path with two
 * connections not yet accepted (the first already sent data), a seqpacket
 * listener on an abstract name with one, a listener whose path was unlinked
 * (with one), and an unbound socket. After restore exactly those connections
 * are accepted, in order, with their data; new clients can connect by name
 * (not through the unlinked path), and the unbound socket can connect. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ztest.h"

struct addr {
	struct sockaddr_un sa;
	socklen_t len;
};

static void mkaddr(struct addr *a, const char *name, int abstract)
{
	memset(a, 0, sizeof(*a));
	a->sa.sun_family = AF_UNIX;
	if (name && strlen(name) + 2 > sizeof(a->sa.sun_path))
		fail("socket name too long: %s", name);
	if (abstract) {
		memcpy(a->sa.sun_path + 1, name, strlen(name));
		a->len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
	} else {
		memcpy(a->sa.sun_path, name, strlen(name));
		a->len = sizeof(a->sa);
	}
}

static int listener(int type, const struct addr *a)
{
	int fd = socket(AF_UNIX, type | SOCK_NONBLOCK, 0);

	if (fd < 0 || bind(fd, (const struct sockaddr *)&a->sa, a->len) || listen(fd, 8))
		fail("listen: %m");
	return fd;
}

static int client(int type, const struct addr *a)
{
	int fd = socket(AF_UNIX, type, 0);

	if (fd < 0 || connect(fd, (const struct sockaddr *)&a->sa, a->len))
		fail("connect: %m");
	return fd;
}

/* the length getsockname() gives for a name */
static socklen_t name_len(const struct addr *a)
{
	if (!a->sa.sun_path[0])
		return a->len; /* abstract: exactly what was bound */
	return offsetof(struct sockaddr_un, sun_path) + strlen(a->sa.sun_path) + 1;
}

/* the listener's own name still the same? */
static void check_name(const char *what, int fd, const struct addr *a)
{
	struct addr got;

	memset(&got, 0, sizeof(got));
	got.len = sizeof(got.sa);
	if (getsockname(fd, (struct sockaddr *)&got.sa, &got.len) || got.len != name_len(a) ||
	    memcmp(&got.sa, &a->sa, got.len))
		test_err("%s: getsockname differs (length %u, want %u)", what, (unsigned)got.len,
			 (unsigned)name_len(a));
	{
		int v = 0;
		socklen_t l = sizeof(v);

		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) || v != 1)
			test_err("%s: not listening any more", what);
	}
}

/* accept one connection: -1 if none is queued */
static int take(int lfd)
{
	return accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
}

int main(int argc, char **argv)
{
	struct addr p_addr, a_addr, g_addr;
	int lp, la, lg, c1, c2, ca, cg, unb, fd, st;
	char name[128], buf[64];

	test_init(argc, argv);
	snprintf(name, sizeof(name), "%s/listen.sock", test_tmpdir());
	mkaddr(&p_addr, name, 0);
	snprintf(name, sizeof(name), "zt-unix-listen-%d", (int)getpid());
	mkaddr(&a_addr, name, 1);
	snprintf(name, sizeof(name), "%s/gone.sock", test_tmpdir());
	mkaddr(&g_addr, name, 0);

	lp = listener(SOCK_STREAM, &p_addr);
	c1 = client(SOCK_STREAM, &p_addr);
	c2 = client(SOCK_STREAM, &p_addr);
	if (send(c1, "first", 5, 0) != 5)
		fail("send: %m");
	la = listener(SOCK_SEQPACKET, &a_addr);
	ca = client(SOCK_SEQPACKET, &a_addr);
	if (send(ca, "rec1", 4, 0) != 4 || send(ca, "record2", 7, 0) != 7)
		fail("send: %m");
	lg = listener(SOCK_STREAM, &g_addr);
	cg = client(SOCK_STREAM, &g_addr);
	if (send(cg, "gone", 4, 0) != 4)
		fail("send: %m");
	unlink(g_addr.sa.sun_path);
	unb = socket(AF_UNIX, SOCK_STREAM, 0);
	if (unb < 0)
		fail("socket: %m");

	test_ready();
	test_waitsig();
	if (test_self_fail)
		close(take(lp));

	/* the path listener: c1's connection (with its data), then c2's, then none */
	check_name("path listener", lp, &p_addr);
	fd = take(lp);
	if (fd < 0 || recv(fd, buf, sizeof(buf), MSG_DONTWAIT) != 5 || memcmp(buf, "first", 5))
		test_err("path listener: the first pending connection is not c1's with \"first\" (%m)");
	else if (send(fd, "back", 4, 0) != 4 || recv(c1, buf, sizeof(buf), MSG_DONTWAIT) != 4)
		test_err("path listener: the first accepted socket is not connected to c1");
	fd = take(lp);
	if (fd < 0 || recv(fd, buf, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		test_err("path listener: the second pending connection is missing or has data (%m)");
	else if (send(c2, "c2", 2, 0) != 2 || recv(fd, buf, sizeof(buf), MSG_DONTWAIT) != 2)
		test_err("path listener: the second accepted socket is not connected to c2");
	if (take(lp) >= 0 || errno != EAGAIN)
		test_err("path listener: more pending connections than were queued (%m)");
	fd = client(SOCK_STREAM, &p_addr);
	if (take(lp) < 0)
		test_err("path listener: a new client's connection is not queued");

	/* the abstract seqpacket listener: one connection with two records */
	check_name("abstract listener", la, &a_addr);
	fd = take(la);
	if (fd < 0 || recv(fd, buf, sizeof(buf), MSG_DONTWAIT) != 4 || memcmp(buf, "rec1", 4) ||
	    recv(fd, buf, sizeof(buf), MSG_DONTWAIT) != 7 || memcmp(buf, "record2", 7))
		test_err("abstract listener: the pending connection or its records differ (%m)");
	if (take(la) >= 0 || errno != EAGAIN)
		test_err("abstract listener: more pending connections than were queued");
	fd = client(SOCK_SEQPACKET, &a_addr);
	if (take(la) < 0)
		test_err("abstract listener: a new client's connection is not queued");

	/* the listener whose path is gone: its name stays, the path does not come back */
	check_name("listener on an unlinked path", lg, &g_addr);
	if (access(g_addr.sa.sun_path, F_OK) == 0)
		test_err("%s exists again", g_addr.sa.sun_path);
	fd = take(lg);
	if (fd < 0 || recv(fd, buf, sizeof(buf), MSG_DONTWAIT) != 4 || memcmp(buf, "gone", 4))
		test_err("listener on an unlinked path: the pending connection is missing (%m)");

	/* the unbound socket: unnamed, and it can still connect */
	{
		struct sockaddr_un got;
		socklen_t len = sizeof(got);

		if (getsockname(unb, (struct sockaddr *)&got, &len) || len != sizeof(sa_family_t))
			test_err("unbound socket: it has a name now (length %u)", (unsigned)len);
		len = sizeof(st);
		if (getsockopt(unb, SOL_SOCKET, SO_TYPE, &st, &len) || st != SOCK_STREAM)
			test_err("unbound socket: not SOCK_STREAM");
	}
	if (connect(unb, (struct sockaddr *)&p_addr.sa, p_addr.len) || take(lp) < 0)
		test_err("unbound socket: can't connect to the path listener: %m");
	test_result();
}
