/* A TCP listener with a connection not accepted yet (its client is outside the tree:
 * a double fork). Without --skip-in-flight the dump must fail, naming the listener
 * and the option (dumpfail); with it, the pending connection is dropped and the
 * listener comes back listening: after restore, what it accepts is a new
 * connection (its peer's port is the new client's), and the listener's queue is
 * empty otherwise. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

static int pending_of(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, SOL_TCP, TCP_INFO, &ti, &l) < 0)
		return -1;
	return (int)ti.tcpi_unacked; /* a listener: its accept queue */
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(sin);
	int lfd, st;
	pid_t pid;

	test_init(argc, argv);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, l) < 0 || listen(lfd, 4) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &l) < 0)
		fail("listener: %m");
	pid = fork();
	if (pid < 0)
		fail("fork: %m");
	if (pid == 0) {
		/* the client leaves the tree: its connection stays pending in our queue */
		signal(SIGTERM, SIG_DFL);
		if (fork() == 0) {
			int c = socket(AF_INET, SOCK_STREAM, 0);
			setsid();
			close(lfd);
			if (c >= 0 && connect(c, (struct sockaddr *)&sin, l) == 0)
				sleep(120);
			_exit(0);
		}
		_exit(0);
	}
	waitpid(pid, &st, 0);
	for (int i = 0; i < 500 && pending_of(lfd) < 1; i++)
		usleep(10000);
	if (pending_of(lfd) != 1)
		fail("the pending connection is not there (%d)", pending_of(lfd));
	test_ready();
	test_waitsig();
	if (test_self_fail)
		shutdown(lfd, SHUT_RDWR); /* no listener any more */

	{
		int c = socket(AF_INET, SOCK_STREAM, 0), a;
		struct sockaddr_in me, peer;
		socklen_t ml = sizeof(me), pl = sizeof(peer);
		struct pollfd pf = { .fd = lfd, .events = POLLIN };

		if (c < 0 || connect(c, (struct sockaddr *)&sin, l) < 0) {
			test_err("a new connection: %m");
			test_result();
		}
		getsockname(c, (struct sockaddr *)&me, &ml);
		if (poll(&pf, 1, 5000) != 1 || (a = accept(lfd, (struct sockaddr *)&peer, &pl)) < 0) {
			test_err("the listener accepts nothing: %m");
			test_result();
		}
		/* in plain mode the old one comes first: it was never dropped */
		if (peer.sin_port != me.sin_port) {
			int again = accept(lfd, (struct sockaddr *)&peer, &pl);
			if (again < 0 || peer.sin_port != me.sin_port)
				test_err("the new connection is not in the queue");
			else
				test_msg("the pending connection was still queued (no checkpoint)");
		}
	}
	test_result();
}
