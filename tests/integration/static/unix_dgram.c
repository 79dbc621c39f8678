/* Unix datagram sockets: a receiver bound to a path (SO_PASSCRED, SO_RCVBUF)
 * with datagrams queued from several senders (bound to a path, to an abstract
 * name, unbound; one zero-length datagram), a sender connect()ed to it, a dgram
 * socketpair with datagrams queued both ways. After restore each datagram comes
 * back in order, whole, with its sender's address and credentials. */
#include <errno.h>
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

struct dgram {
	int sender; /* index into snd[] */
	int len;
};

/* the datagrams queued to the receiver, in order */
static const struct dgram queue[] = {
	{ 0, 100 }, { 1, 1 }, { 2, 2000 }, { 0, 0 }, { 1, 60000 }, { 3, 7 },
};
#define NQ (int)(sizeof(queue) / sizeof(queue[0]))
static const int pair_len[2][3] = { { 10, 20, 30 }, { 4000, 1, 0 } };

static unsigned char buf[65536];

static void mkaddr(struct addr *a, const char *name, int abstract)
{
	memset(a, 0, sizeof(*a));
	a->sa.sun_family = AF_UNIX;
	if (name && strlen(name) + 2 > sizeof(a->sa.sun_path))
		fail("socket name too long: %s", name);
	if (abstract) {
		memcpy(a->sa.sun_path + 1, name, strlen(name));
		a->len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
	} else if (name) {
		memcpy(a->sa.sun_path, name, strlen(name));
		a->len = offsetof(struct sockaddr_un, sun_path) + strlen(name) + 1;
	} else {
		a->len = 0; /* unbound: recvfrom gives no address */
	}
}

static int dgram_socket(const struct addr *a)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	if (fd < 0 || (a && a->len &&
		       bind(fd, (const struct sockaddr *)&a->sa, a->len)))
		fail("dgram socket: %m");
	return fd;
}

int main(int argc, char **argv)
{
	struct addr raddr, saddr[4];
	int rcv, snd[4], dp[2], one = 1, rcvbuf;
	socklen_t ol = sizeof(rcvbuf);
	char name[600];

	test_init(argc, argv);
	snprintf(name, sizeof(name), "%s/dgram.rcv", test_tmpdir());
	mkaddr(&raddr, name, 0);
	snprintf(name, sizeof(name), "%s/dgram.snd0", test_tmpdir());
	mkaddr(&saddr[0], name, 0);
	snprintf(name, sizeof(name), "zt-unix-dgram-%d", (int)getpid());
	mkaddr(&saddr[1], name, 1);
	mkaddr(&saddr[2], NULL, 0);
	mkaddr(&saddr[3], NULL, 0);

	rcv = dgram_socket(&raddr);
	if (setsockopt(rcv, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) ||
	    setsockopt(rcv, SOL_SOCKET, SO_RCVBUF, &(int){ 300000 }, sizeof(int)) ||
	    getsockopt(rcv, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &ol))
		fail("setsockopt: %m");
	for (int i = 0; i < 4; i++)
		snd[i] = dgram_socket(&saddr[i]);
	/* snd[3] is connected to the receiver and sends without an address */
	if (connect(snd[3], (struct sockaddr *)&raddr.sa, raddr.len))
		fail("connect: %m");
	for (int i = 0; i < NQ; i++) {
		const struct dgram *d = &queue[i];
		ssize_t n;

		zt_fill(buf, d->len, 0xd600 + i);
		if (d->sender == 3)
			n = send(snd[3], buf, d->len, 0);
		else
			n = sendto(snd[d->sender], buf, d->len, 0, (struct sockaddr *)&raddr.sa, raddr.len);
		if (n != d->len)
			fail("sendto: %m");
	}
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, dp))
		fail("socketpair: %m");
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < 3; i++) {
			zt_fill(buf, pair_len[s][i], 0xd900 + s * 16 + i);
			if (send(dp[s], buf, pair_len[s][i], 0) != pair_len[s][i])
				fail("send: %m");
		}

	test_ready();
	test_waitsig();
	if (test_self_fail && recv(rcv, buf, sizeof(buf), 0) < 0)
		test_err("self-test recv: %m");

	{
		int v = -1;

		ol = sizeof(v);
		if (getsockopt(rcv, SOL_SOCKET, SO_RCVBUF, &v, &ol) || v != rcvbuf)
			test_err("receiver: SO_RCVBUF %d, was %d", v, rcvbuf);
		if (getsockopt(rcv, SOL_SOCKET, SO_TYPE, &v, &ol) || v != SOCK_DGRAM)
			test_err("receiver: not SOCK_DGRAM");
	}
	for (int i = 0; i < NQ && !test_failed(); i++) {
		const struct dgram *d = &queue[i];
		const struct addr *want = &saddr[d->sender];
		char cbuf[CMSG_SPACE(sizeof(struct ucred))];
		struct sockaddr_un from;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
				     .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *c;
		ssize_t n;

		memset(&from, 0, sizeof(from));
		n = recvmsg(rcv, &mh, MSG_DONTWAIT);
		if (n != d->len || (mh.msg_flags & MSG_TRUNC) || zt_verify(buf, n, 0xd600 + i) >= 0) {
			test_err("datagram %d: %zd bytes (want %d) or its data differs (%m)", i, n, d->len);
			break;
		}
		if (mh.msg_namelen != want->len || memcmp(&from, &want->sa, want->len))
			test_err("datagram %d: sender address differs (length %u, want %u)", i,
				 (unsigned)mh.msg_namelen, (unsigned)want->len);
		c = CMSG_FIRSTHDR(&mh);
		if (!c || c->cmsg_type != SCM_CREDENTIALS ||
		    ((struct ucred *)CMSG_DATA(c))->pid != getpid() ||
		    ((struct ucred *)CMSG_DATA(c))->uid != getuid())
			test_err("datagram %d: no SCM_CREDENTIALS of this process", i);
	}
	if (recv(rcv, buf, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		test_err("receiver: more datagrams than were queued");
	/* the connected sender is still connected to the receiver's path */
	{
		struct sockaddr_un peer;
		socklen_t pl = sizeof(peer);

		if (getpeername(snd[3], (struct sockaddr *)&peer, &pl) || pl != raddr.len ||
		    memcmp(&peer, &raddr.sa, pl))
			test_err("connected sender: peer name differs");
		if (send(snd[3], "new", 3, 0) != 3 || recv(rcv, buf, sizeof(buf), MSG_DONTWAIT) != 3)
			test_err("connected sender: does not reach the receiver");
	}
	/* the socketpair: datagrams both ways, boundaries kept */
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < 3; i++) {
			ssize_t n = recv(dp[1 - s], buf, sizeof(buf), MSG_DONTWAIT);

			if (n != pair_len[s][i] || zt_verify(buf, n, 0xd900 + s * 16 + i) >= 0)
				test_err("socketpair: datagram %d to dp[%d] is %zd bytes (want %d) or differs",
					 i, 1 - s, n, pair_len[s][i]);
		}
	if (recv(dp[0], buf, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		test_err("socketpair: more datagrams than were queued");
	if (send(dp[0], "p", 1, 0) != 1 || recv(dp[1], buf, 8, MSG_DONTWAIT) != 1)
		test_err("socketpair: does not carry new datagrams");
	test_result();
}
