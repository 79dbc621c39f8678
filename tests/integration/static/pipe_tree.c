/* Pipes across a parent and its child: parent->child and child->parent pipes
 * with data queued, each end held by one task only (the other end closed there),
 * and a read end both tasks share (one description, one buffer: what one
 * reads the other does not see again). After restore the data is there, new data
 * flows both ways, and closing the only writer gives the reader EOF. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "ztest.h"

#define DOWN_DATA 10000 /* parent -> child */
#define UP_DATA 5000    /* child -> parent */
#define SHARED_DATA 8000

struct sync {
	int child_ready; /* child has written its data */
	int go;          /* parent: verify now */
	int half_read;   /* child read the first half of the shared pipe */
	int pong;        /* child answered */
};

static struct sync *s;
static unsigned char buf[65536];

static int read_full(int fd, void *p, int len)
{
	int n = 0;

	while (n < len) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pf, 1, 10000) != 1)
			break; /* nothing for 10 s: the data is not coming */
		r = read(fd, (char *)p + n, len - n);
		if (r <= 0)
			break;
		n += r;
	}
	return n;
}

static int queued(int fd)
{
	int n = -1;

	ioctl(fd, FIONREAD, &n);
	return n;
}

static void child(int down_r, int up_w, int shared_r)
{
	test_child_reset();
	zt_fill(buf, UP_DATA, 0xc0de);
	if (write(up_w, buf, UP_DATA) != UP_DATA)
		test_err("child: write: %m");
	zt_post(&s->child_ready, 1);
	if (zt_wait_ge(&s->go, 1, 3600))
		test_err("child: no go");

	if (queued(down_r) != DOWN_DATA)
		test_err("child: %d bytes queued from the parent, want %d", queued(down_r), DOWN_DATA);
	if (read_full(down_r, buf, DOWN_DATA) != DOWN_DATA)
		test_err("child: short read from the parent: %m");
	zt_check("child: data from the parent", buf, DOWN_DATA, 0xd0e);
	if (read_full(shared_r, buf, SHARED_DATA / 2) != SHARED_DATA / 2)
		test_err("child: short read from the shared pipe");
	zt_check("child: first half of the shared pipe", buf, SHARED_DATA / 2, 0x5a5);
	zt_post(&s->half_read, 1);

	/* ping-pong: the pipes still connect these two tasks */
	if (read_full(down_r, buf, 4) != 4 || memcmp(buf, "ping", 4))
		test_err("child: no ping");
	if (write(up_w, "pong", 4) != 4)
		test_err("child: write pong: %m");
	zt_post(&s->pong, 1);
	/* the parent closes its write end: EOF, unless a writer was left behind */
	{
		struct pollfd pf = { .fd = down_r, .events = POLLIN };

		if (poll(&pf, 1, 10000) != 1 || !(pf.revents & POLLHUP) || read(down_r, buf, 1) != 0)
			test_err("child: no EOF once the parent closed the only writer");
	}
	test_child_exit();
}

int main(int argc, char **argv)
{
	int down[2], up[2], shared[2], st;
	pid_t pid;

	test_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	s = zt_shared(sizeof(*s));
	if (pipe(down) || pipe(up) || pipe(shared))
		fail("pipe: %m");
	pid = fork();
	if (pid < 0)
		fail("fork: %m");
	if (pid == 0) {
		close(down[1]);
		close(up[0]);
		close(shared[1]);
		child(down[0], up[1], shared[0]);
	}
	close(down[0]);
	close(up[1]);
	zt_fill(buf, DOWN_DATA, 0xd0e);
	if (write(down[1], buf, DOWN_DATA) != DOWN_DATA)
		fail("write: %m");
	zt_fill(buf, SHARED_DATA, 0x5a5);
	if (write(shared[1], buf, SHARED_DATA) != SHARED_DATA)
		fail("write: %m");
	if (zt_wait_ge(&s->child_ready, 1, 30))
		fail("the child did not start");

	test_ready();
	test_waitsig();
	if (test_self_fail && read(up[0], buf, 1) != 1)
		test_err("self-test read: %m");

	if (syscall(SYS_kcmp, getpid(), pid, KCMP_FILE, shared[0], shared[0]) != 0)
		test_err("the shared read end is not one description in parent and child any more");
	if (queued(up[0]) != UP_DATA)
		test_err("%d bytes queued from the child, want %d", queued(up[0]), UP_DATA);
	else if (read_full(up[0], buf, UP_DATA) != UP_DATA)
		test_err("short read from the child");
	else
		zt_check("data from the child", buf, UP_DATA, 0xc0de);
	zt_post(&s->go, 1);
	if (zt_wait_ge(&s->half_read, 1, 30))
		test_err("the child did not read the shared pipe");
	/* the child read the first half: the second half is left, once */
	if (queued(shared[0]) != SHARED_DATA / 2)
		test_err("shared pipe: %d bytes left, want %d", queued(shared[0]), SHARED_DATA / 2);
	else {
		static unsigned char want[SHARED_DATA];

		zt_fill(want, SHARED_DATA, 0x5a5);
		if (read_full(shared[0], buf, SHARED_DATA / 2) != SHARED_DATA / 2 ||
		    memcmp(buf, want + SHARED_DATA / 2, SHARED_DATA / 2))
			test_err("shared pipe: the parent did not get the second half");
	}
	if (write(down[1], "ping", 4) != 4)
		test_err("write ping: %m");
	if (zt_wait_ge(&s->pong, 1, 30) || read_full(up[0], buf, 4) != 4 || memcmp(buf, "pong", 4))
		test_err("no pong from the child");
	close(down[1]);
	if (!zt_waitpid(pid, &st, 30, "child") && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		test_err("the child's own checks failed (status %#x)", st);
	test_result();
}
