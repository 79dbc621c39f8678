/* Half-closed TCP connections between a parent and its child (dump
 * --tcp-established): A shut its sending side after "hello" (A FIN_WAIT2, B
 * CLOSE_WAIT with "hello" and the FIN unread, 5000 bytes from B unread by A); C
 * shut its sending side behind data D's window can't take (C FIN_WAIT1, the FIN not
 * sent yet). After restore: the states are those, B reads "hello" then EOF and
 * can still send, A reads everything then EOF once B closes, D reads all of C's
 * data then EOF, and writing on a shut side fails with EPIPE. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "ztest.h"

#define B_DATA 5000
#define C_DATA (6u << 20)

struct sync {
	int child_ready;
	int go;
	int c_sent;
};

static struct sync *s;
static unsigned char buf[C_DATA + 64];

static int state_of(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, SOL_TCP, TCP_INFO, &ti, &l) < 0)
		return -1;
	return ti.tcpi_state;
}

static void pair(int *a, int *b, int rcvbuf_b)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, l) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &l) < 0)
		fail("listener: %m");
	*b = socket(AF_INET, SOCK_STREAM, 0);
	if (rcvbuf_b && setsockopt(*b, SOL_SOCKET, SO_RCVBUF, &rcvbuf_b, sizeof(rcvbuf_b)) < 0)
		fail("SO_RCVBUF: %m");
	if (*b < 0 || connect(*b, (struct sockaddr *)&sin, l) < 0)
		fail("connect: %m");
	*a = accept(lfd, NULL, NULL);
	if (*a < 0)
		fail("accept: %m");
	close(lfd);
}

static size_t read_all(int fd, void *p, size_t len, int *eof)
{
	size_t n = 0;

	*eof = 0;
	while (n < len) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t r;
		if (poll(&pf, 1, 20000) != 1)
			break;
		r = read(fd, (char *)p + n, len - n);
		if (r == 0) {
			*eof = 1;
			break;
		}
		if (r < 0)
			break;
		n += r;
	}
	return n;
}

static void expect_state(int fd, int want, const char *who)
{
	int st = state_of(fd);

	if (st != want)
		test_err("%s: state %d, want %d", who, st, want);
}

int main(int argc, char **argv)
{
	int a, b, c, d, eof;
	pid_t pid;
	int st;

	test_init(argc, argv);
	s = zt_shared(sizeof(*s));
	pair(&a, &b, 0);
	pair(&c, &d, 65536);
	pid = fork();
	if (pid < 0)
		fail("fork: %m");
	if (pid == 0) {
		/* the child: B and D */
		test_child_reset();
		close(a);
		close(c);
		zt_fill(buf, B_DATA, 0xb);
		if (write(b, buf, B_DATA) != B_DATA)
			fail("B: write: %m");
		zt_post(&s->child_ready, 1);
		if (zt_wait_ge(&s->go, 1, 3600))
			test_err("child: no go");
		expect_state(b, TCP_CLOSE_WAIT, "B");
		expect_state(d, TCP_ESTABLISHED, "D");
		test_msg("child: go");
		{
			char h[16];
			size_t n = read_all(b, h, sizeof(h), &eof);
			if (n != 5 || memcmp(h, "hello", 5) || !eof)
				test_err("B: read %zu bytes (%.*s), eof %d: want hello then EOF", n, (int)n, h, eof);
		}
		if (write(b, "more", 4) != 4)
			test_err("B: can't send on its open side: %m");
		shutdown(b, SHUT_WR);
		{
			size_t n = read_all(d, buf, sizeof(buf), &eof);
			if (n != (size_t)s->c_sent || !eof)
				test_err("D: read %zu bytes of %d, eof %d", n, s->c_sent, eof);
			else if (zt_verify(buf, n & ~7ul, 0xc) >= 0)
				test_err("D: the data differs at %zd", zt_verify(buf, n & ~7ul, 0xc));
		}
		test_child_exit();
	}
	close(b);
	close(d);
	if (zt_wait_ge(&s->child_ready, 1, 30))
		fail("the child is not ready");
	if (write(a, "hello", 5) != 5 || shutdown(a, SHUT_WR) < 0)
		fail("A: %m");
	zt_fill(buf, C_DATA, 0xc);
	{
		size_t n = 0;
		while (n < C_DATA) {
			ssize_t r = send(c, buf + n, C_DATA - n, MSG_DONTWAIT);
			if (r <= 0)
				break;
			n += r;
		}
		s->c_sent = (int)n;
	}
	if (shutdown(c, SHUT_WR) < 0)
		fail("C: shutdown: %m");
	for (int i = 0; i < 100 && state_of(a) != TCP_FIN_WAIT2; i++)
		usleep(10000);
	{
		int q = 0;
		ioctl(c, SIOCOUTQNSD, &q);
		test_msg("C sent %d bytes, %d not sent yet; states A %d C %d", s->c_sent, q, state_of(a), state_of(c));
	}
	test_ready();
	test_waitsig();
	if (test_self_fail)
		shutdown(a, SHUT_RD);

	expect_state(a, TCP_FIN_WAIT2, "A");
	expect_state(c, TCP_FIN_WAIT1, "C");
	zt_post(&s->go, 1);
	{
		static unsigned char r[B_DATA + 16];
		size_t n = read_all(a, r, sizeof(r), &eof);
		if (n != B_DATA + 4 || !eof)
			test_err("A: read %zu bytes, eof %d: want %d then EOF", n, eof, B_DATA + 4);
		else if (zt_verify(r, B_DATA & ~7, 0xb) >= 0 || memcmp(r + B_DATA, "more", 4))
			test_err("A: the data from B differs");
	}
	if (send(a, "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE)
		test_err("A: writing on its shut side did not fail with EPIPE (%m)");
	if (zt_waitpid(pid, &st, 60, "the child") == 0 && (!WIFEXITED(st) || WEXITSTATUS(st)))
		test_err("the child failed (status 0x%x)", st);
	test_result();
}
