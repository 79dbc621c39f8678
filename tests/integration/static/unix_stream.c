/* Connected unix stream sockets in one task: a socketpair with data queued
 * both ways and SO_PASSCRED, SO_RCVBUF/SO_SNDBUF, SO_PEEK_OFF set; a pair made
 * by connect()/accept() on a path (names kept: the listener is closed and its
 * path removed); shutdown(SHUT_WR) and shutdown(SHUT_RD) states. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ztest.h"

#define A_TO_B 30000
#define B_TO_A 20000
#define C_TO_S 7000

static unsigned char buf[65536];

static int inq(int fd)
{
	int n = -1;

	ioctl(fd, FIONREAD, &n);
	return n;
}

static int getopt_int(int fd, int opt)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, opt, &v, &len))
		return -1;
	return v;
}

static int recv_all(int fd, void *p, int len)
{
	int n = 0;

	while (n < len) {
		ssize_t r = recv(fd, (char *)p + n, len - n, MSG_DONTWAIT);

		if (r <= 0)
			break;
		n += r;
	}
	return n;
}

static void name_of(int fd, int peer, char *out, size_t len)
{
	struct sockaddr_un a;
	socklen_t al = sizeof(a);

	memset(&a, 0, sizeof(a));
	if ((peer ? getpeername(fd, (struct sockaddr *)&a, &al) : getsockname(fd, (struct sockaddr *)&a, &al)) ||
	    al <= sizeof(sa_family_t))
		out[0] = 0;
	else
		snprintf(out, len, "%s", a.sun_path);
}

int main(int argc, char **argv)
{
	int sp[2], cli, srv, lsn, shw[2], shr[2];
	int opt_rcv, opt_snd, one = 1, peek_off = 5;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char name[sizeof(sa.sun_path) + 1];

	test_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) || socketpair(AF_UNIX, SOCK_STREAM, 0, shw) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, shr))
		fail("socketpair: %m");

	/* options, then data both ways */
	if (setsockopt(sp[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) ||
	    setsockopt(sp[0], SOL_SOCKET, SO_RCVBUF, &(int){ 100000 }, sizeof(int)) ||
	    setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &(int){ 150000 }, sizeof(int)) ||
	    setsockopt(sp[1], SOL_SOCKET, SO_PEEK_OFF, &peek_off, sizeof(peek_off)))
		fail("setsockopt: %m");
	opt_rcv = getopt_int(sp[0], SO_RCVBUF);
	opt_snd = getopt_int(sp[0], SO_SNDBUF);
	zt_fill(buf, A_TO_B, 0xa2b);
	if (send(sp[0], buf, A_TO_B, 0) != A_TO_B)
		fail("send: %m");
	zt_fill(buf, B_TO_A, 0xb2a);
	if (send(sp[1], buf, B_TO_A, 0) != B_TO_A)
		fail("send: %m");

	/* a connected pair through a path; the listener is gone afterwards */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/stream.sock", test_tmpdir());
	lsn = socket(AF_UNIX, SOCK_STREAM, 0);
	cli = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lsn < 0 || cli < 0 || bind(lsn, (struct sockaddr *)&sa, sizeof(sa)) || listen(lsn, 4) ||
	    connect(cli, (struct sockaddr *)&sa, sizeof(sa)))
		fail("listen/connect %s: %m", sa.sun_path);
	srv = accept(lsn, NULL, NULL);
	if (srv < 0)
		fail("accept: %m");
	close(lsn);
	unlink(sa.sun_path);
	zt_fill(buf, C_TO_S, 0xc25);
	if (send(cli, buf, C_TO_S, 0) != C_TO_S || send(srv, "hi", 2, 0) != 2)
		fail("send: %m");

	/* shutdown states */
	if (send(shw[0], "last", 4, 0) != 4 || shutdown(shw[0], SHUT_WR) || shutdown(shr[0], SHUT_RD))
		fail("shutdown: %m");

	test_ready();
	test_waitsig();
	if (test_self_fail && recv(sp[1], buf, 1, 0) != 1)
		test_err("self-test recv: %m");

	/* the socketpair: options */
	if (getopt_int(sp[0], SO_PASSCRED) != 1)
		test_err("SO_PASSCRED is %d", getopt_int(sp[0], SO_PASSCRED));
	if (getopt_int(sp[0], SO_RCVBUF) != opt_rcv || getopt_int(sp[0], SO_SNDBUF) != opt_snd)
		test_err("SO_RCVBUF/SO_SNDBUF %d/%d, were %d/%d", getopt_int(sp[0], SO_RCVBUF),
			 getopt_int(sp[0], SO_SNDBUF), opt_rcv, opt_snd);
	if (getopt_int(sp[1], SO_PEEK_OFF) != peek_off)
		test_err("SO_PEEK_OFF is %d, was %d", getopt_int(sp[1], SO_PEEK_OFF), peek_off);
	if (getopt_int(sp[0], SO_TYPE) != SOCK_STREAM || getopt_int(sp[1], SO_TYPE) != SOCK_STREAM)
		test_err("the socketpair is not SOCK_STREAM");
	/* queued data; MSG_PEEK starts at SO_PEEK_OFF */
	if (inq(sp[1]) != A_TO_B || inq(sp[0]) != B_TO_A)
		test_err("queued %d and %d bytes, want %d and %d", inq(sp[1]), inq(sp[0]), A_TO_B, B_TO_A);
	{
		unsigned char want[A_TO_B];

		zt_fill(want, A_TO_B, 0xa2b);
		if (recv(sp[1], buf, 10, MSG_PEEK | MSG_DONTWAIT) != 10 || memcmp(buf, want + peek_off, 10))
			test_err("MSG_PEEK did not start at SO_PEEK_OFF %d", peek_off);
	}
	if (recv_all(sp[1], buf, A_TO_B) != A_TO_B)
		test_err("short read of the data queued to sp[1]");
	zt_check("data queued to sp[1]", buf, A_TO_B, 0xa2b);
	if (recv_all(sp[0], buf, B_TO_A) != B_TO_A)
		test_err("short read of the data queued to sp[0]");
	zt_check("data queued to sp[0]", buf, B_TO_A, 0xb2a);
	if (recv(sp[0], buf, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		test_err("sp[0]: more data than queued");
	/* new data, with the credentials SO_PASSCRED asks for */
	{
		char cbuf[CMSG_SPACE(sizeof(struct ucred))];
		struct iovec iov = { buf, 16 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *c;

		if (send(sp[1], "cred", 4, 0) != 4 || recvmsg(sp[0], &mh, MSG_DONTWAIT) != 4)
			test_err("the socketpair does not carry new data: %m");
		c = CMSG_FIRSTHDR(&mh);
		if (!c || c->cmsg_type != SCM_CREDENTIALS ||
		    ((struct ucred *)CMSG_DATA(c))->pid != getpid())
			test_err("no SCM_CREDENTIALS with our pid on sp[0] (SO_PASSCRED)");
	}

	/* the accepted pair: names, data */
	name_of(srv, 0, name, sizeof(name));
	if (strcmp(name, sa.sun_path))
		test_err("accepted socket: local name '%s', want '%s'", name, sa.sun_path);
	name_of(cli, 1, name, sizeof(name));
	if (strcmp(name, sa.sun_path))
		test_err("client socket: peer name '%s', want '%s'", name, sa.sun_path);
	name_of(cli, 0, name, sizeof(name));
	if (name[0])
		test_err("client socket: bound to '%s', it was unbound", name);
	if (access(sa.sun_path, F_OK) == 0)
		test_err("%s exists again", sa.sun_path);
	if (recv_all(srv, buf, C_TO_S) != C_TO_S)
		test_err("short read on the accepted socket");
	zt_check("data queued to the accepted socket", buf, C_TO_S, 0xc25);
	if (recv_all(cli, buf, 2) != 2 || memcmp(buf, "hi", 2))
		test_err("data queued to the client differs");
	if (send(cli, "x", 1, 0) != 1 || recv_all(srv, buf, 1) != 1 || buf[0] != 'x')
		test_err("the accepted pair does not carry new data");

	/* SHUT_WR: the peer reads "last" then EOF, the writer gets EPIPE */
	if (recv_all(shw[1], buf, 4) != 4 || memcmp(buf, "last", 4) || recv(shw[1], buf, 1, MSG_DONTWAIT) != 0)
		test_err("SHUT_WR: the peer did not read \"last\" then EOF");
	if (send(shw[0], "x", 1, 0) != -1 || errno != EPIPE)
		test_err("SHUT_WR: sending did not fail with EPIPE (%m)");
	if (send(shw[1], "y", 1, 0) != 1 || recv_all(shw[0], buf, 1) != 1)
		test_err("SHUT_WR: the other direction does not work");
	/* SHUT_RD: reads give EOF, the peer's sends EPIPE */
	if (recv(shr[0], buf, 1, MSG_DONTWAIT) != 0)
		test_err("SHUT_RD: a read did not return EOF (%m)");
	if (send(shr[1], "x", 1, 0) != -1 || errno != EPIPE)
		test_err("SHUT_RD: the peer's send did not fail with EPIPE (%m)");
	test_result();
}
