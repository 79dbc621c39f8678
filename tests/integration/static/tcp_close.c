/* --tcp-close: a connection (both ends in this process) and a listener. Dumped with
 * --tcp-close, or dumped with --tcp-established and restored with --tcp-close, the
 * connection comes back closed: no peer (ENOTCONN), writing fails (EPIPE), its
 * options kept; the listener still listens. In plain mode (no checkpoint) the
 * connection is still up, so the test checks that it works instead. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ztest.h"

int main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) }, peer;
	socklen_t l = sizeof(sin), pl = sizeof(peer);
	int lfd, c, a, one = 1, v = 0;
	socklen_t vl = sizeof(v);
	int plain = 0;

	test_init(argc, argv);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, l) < 0 || listen(lfd, 4) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &l) < 0)
		fail("listener: %m");
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&sin, l) < 0 || (a = accept(lfd, NULL, NULL)) < 0)
		fail("connection: %m");
	setsockopt(a, SOL_TCP, TCP_NODELAY, &one, sizeof(one));
	if (write(c, "queued", 6) != 6)
		fail("write: %m");
	test_ready();
	test_waitsig();

	/* plain mode: nothing was closed */
	if (getpeername(a, (struct sockaddr *)&peer, &pl) == 0 && !plain) {
		char b[8];
		plain = read(a, b, sizeof(b)) == 6; /* still connected: no checkpoint happened */
	}
	if (test_self_fail)
		plain = !plain;
	if (!plain) {
		pl = sizeof(peer);
		if (getpeername(a, (struct sockaddr *)&peer, &pl) == 0 || errno != ENOTCONN)
			test_err("the accepted end still has a peer (%m)");
		if (getpeername(c, (struct sockaddr *)&peer, &pl) == 0 || errno != ENOTCONN)
			test_err("the connecting end still has a peer (%m)");
		if (send(a, "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE)
			test_err("writing on the closed connection did not fail with EPIPE (%m)");
		if (getsockopt(a, SOL_TCP, TCP_NODELAY, &v, &vl) < 0 || v != 1)
			test_err("TCP_NODELAY lost");
	}
	{
		int n = socket(AF_INET, SOCK_STREAM, 0), x;
		struct pollfd pf = { .fd = lfd, .events = POLLIN };
		if (n < 0 || connect(n, (struct sockaddr *)&sin, l) < 0)
			test_err("the listener does not listen: %m");
		else if (poll(&pf, 1, 5000) != 1 || (x = accept(lfd, NULL, NULL)) < 0)
			test_err("the listener accepts nothing");
	}
	test_result();
}
