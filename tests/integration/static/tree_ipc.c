/* A tree joined by its fds: the root and 3 children, with a pipe root->C1, a
 * pipe C2->root, a stream socketpair root<->C3 and a dgram socketpair C1<->C2
 * (data queued both ways), a FIFO read by C1 and written by C2 (data in it), an
 * epoll in the root over its ends, and a zombie child. After restore every
 * task verifies its own fds and data and reports to the root (exit status);
 * the root checks its epoll, its data, the zombie, then a round trip. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

#define A_LEN 3000 /* root -> C1 pipe */
#define B_LEN 2000 /* C2 -> root pipe */
#define S_DOWN 1500 /* root -> C3 */
#define S_UP 2500   /* C3 -> root */
#define F_LEN 700   /* FIFO, C2 -> C1 */
static const int d12[] = { 10, 200, 3000 }; /* datagrams C1 -> C2 */
static const int d21[] = { 1, 4000 };       /* datagrams C2 -> C1 */

struct sync {
	int up, go, replied;
};

static struct sync *s;
static int a[2], b[2], sp[2], dg[2];
static char fifo[600];
static unsigned char buf[8192];

static int inq(int fd)
{
	int n = -1;

	ioctl(fd, FIONREAD, &n);
	return n;
}

/* read exactly len bytes that are already queued, and check them */
static void take(const char *what, int fd, int len, uint64_t seed)
{
	if (inq(fd) != len) {
		test_err("%s: %d bytes queued, want %d", what, inq(fd), len);
		return;
	}
	if (read(fd, buf, len) != len)
		test_err("%s: short read: %m", what);
	else
		zt_check(what, buf, len, seed);
}

static void take_dgrams(const char *what, int fd, const int *len, int n, uint64_t seed)
{
	for (int i = 0; i < n; i++) {
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (r != len[i] || zt_verify(buf, r, seed + i) >= 0)
			test_err("%s: datagram %d is %zd bytes (want %d) or differs", what, i, r, len[i]);
	}
	if (recv(fd, buf, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		test_err("%s: more datagrams than were sent", what);
}

static void put(int fd, int len, uint64_t seed)
{
	zt_fill(buf, len, seed);
	if (write(fd, buf, len) != len)
		fail("write: %m");
}

static pid_t child(int idx)
{
	pid_t pid = fork();
	int ff = -1;

	if (pid < 0)
		fail("fork: %m");
	if (pid)
		return pid;
	test_child_reset();
	/* keep only this task's ends */
	close(a[1]);
	close(b[0]);
	close(sp[0]);
	if (idx != 1)
		close(a[0]);
	if (idx != 2)
		close(b[1]);
	if (idx != 3)
		close(sp[1]);
	if (idx != 1)
		close(dg[0]);
	if (idx != 2)
		close(dg[1]);
	if (idx == 1) {
		ff = open(fifo, O_RDONLY | O_NONBLOCK);
		for (int i = 0; i < 3; i++) {
			zt_fill(buf, d12[i], 0x1200 + i);
			if (send(dg[0], buf, d12[i], 0) != d12[i])
				_exit(20);
		}
	} else if (idx == 2) {
		/* the reader (C1) opens first: wait for it */
		for (int i = 0; i < 30000 && ff < 0; i++) {
			ff = open(fifo, O_WRONLY | O_NONBLOCK);
			if (ff < 0)
				usleep(1000);
		}
		put(ff, F_LEN, 0xf1f0);
		put(b[1], B_LEN, 0xb0);
		for (int i = 0; i < 2; i++) {
			zt_fill(buf, d21[i], 0x2100 + i);
			if (send(dg[1], buf, d21[i], 0) != d21[i])
				_exit(20);
		}
	} else {
		put(sp[1], S_UP, 0x5b);
	}
	if (ff < 0 && idx != 3)
		_exit(21);
	zt_post(&s->up, 1);
	if (zt_wait_ge(&s->go, 1, 3600))
		_exit(22);

	if (idx == 1) {
		take("C1: pipe from the root", a[0], A_LEN, 0xa0);
		take("C1: FIFO from C2", ff, F_LEN, 0xf1f0);
		take_dgrams("C1: datagrams from C2", dg[0], d21, 2, 0x2100);
	} else if (idx == 2) {
		take_dgrams("C2: datagrams from C1", dg[1], d12, 3, 0x1200);
	} else {
		take("C3: socket data from the root", sp[1], S_DOWN, 0x5a);
		if (write(sp[1], "reply", 5) != 5)
			test_err("C3: write: %m");
		zt_post(&s->replied, 1);
	}
	test_child_exit();
}

int main(int argc, char **argv)
{
	struct epoll_event evs[8];
	pid_t kids[3], zombie;
	int ep, st, n;

	test_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	s = zt_shared(sizeof(*s));
	snprintf(fifo, sizeof(fifo), "%s/tree.fifo", test_tmpdir());
	if (mkfifo(fifo, 0600) || pipe(a) || pipe(b) || socketpair(AF_UNIX, SOCK_STREAM, 0, sp) ||
	    socketpair(AF_UNIX, SOCK_DGRAM, 0, dg))
		fail("setup: %m");
	zombie = fork();
	if (zombie < 0)
		fail("fork: %m");
	if (zombie == 0)
		_exit(33);
	for (int i = 0; i < 3; i++)
		kids[i] = child(i + 1);
	close(a[0]);
	close(b[1]);
	close(sp[1]);
	close(dg[0]);
	close(dg[1]);
	put(a[1], A_LEN, 0xa0);
	put(sp[0], S_DOWN, 0x5a);
	ep = epoll_create1(0);
	if (ep < 0)
		fail("epoll_create1: %m");
	{
		struct epoll_event e1 = { EPOLLIN, { .u64 = 1 } }, e2 = { EPOLLIN | EPOLLOUT, { .u64 = 2 } },
				   e3 = { EPOLLOUT, { .u64 = 3 } };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, b[0], &e1) || epoll_ctl(ep, EPOLL_CTL_ADD, sp[0], &e2) ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, a[1], &e3))
			fail("epoll_ctl: %m");
	}
	if (zt_wait_ge(&s->up, 3, 30))
		fail("the children did not set up");
	{
		siginfo_t si;

		if (waitid(P_PID, zombie, &si, WEXITED | WNOWAIT))
			fail("waitid: %m");
	}

	test_ready();
	test_waitsig();
	if (test_self_fail && read(b[0], buf, 1) != 1)
		test_err("self-test read: %m");

	/* the root's epoll: its three ends, ready as they were */
	n = epoll_wait(ep, evs, 8, 0);
	{
		uint32_t got[4] = { 0 };

		for (int i = 0; i < n; i++)
			if (evs[i].data.u64 >= 1 && evs[i].data.u64 <= 3)
				got[evs[i].data.u64] = evs[i].events;
		if (n != 3 || got[1] != EPOLLIN || got[2] != (EPOLLIN | EPOLLOUT) || got[3] != EPOLLOUT)
			test_err("epoll: %d events: pipe %#x, socket %#x, pipe write end %#x", n, got[1], got[2],
				 got[3]);
	}
	take("root: pipe from C2", b[0], B_LEN, 0xb0);
	take("root: socket data from C3", sp[0], S_UP, 0x5b);
	zt_post(&s->go, 1);
	/* a round trip with C3 */
	if (zt_wait_ge(&s->replied, 1, 30) || read(sp[0], buf, 5) != 5 || memcmp(buf, "reply", 5))
		test_err("root: no reply from C3");
	for (int i = 0; i < 3; i++) {
		char what[32];

		snprintf(what, sizeof(what), "child C%d", i + 1);
		if (!zt_waitpid(kids[i], &st, 30, what) && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
			test_err("%s: its checks failed (status %#x; see its messages)", what, st);
	}
	if (waitpid(zombie, &st, WNOHANG) != zombie || !WIFEXITED(st) || WEXITSTATUS(st) != 33)
		test_err("the zombie child: not there with status 33 (%#x)", st);
	/* every writer of the root's read end is gone now: EOF */
	if (read(b[0], buf, 1) != 0)
		test_err("root: the pipe from C2 still has a writer");
	unlink(fifo);
	test_result();
}
