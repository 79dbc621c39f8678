/* Unix seqpacket: a socketpair with records queued both ways (record
 * boundaries kept: a short read truncates one record only), and a pair whose
 * one end did shutdown(SHUT_WR) after its records (the peer reads them, then
 * EOF). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ztest.h"

static const int rec_len[2][4] = { { 1, 500, 50000, 3 }, { 64, 64, 1000, 2 } };

static unsigned char buf[65536];

static void check_records(const char *what, int fd, const int *len, uint64_t seed)
{
	for (int i = 0; i < 4; i++) {
		struct iovec iov = { buf, i == 2 ? 100 : sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);

		/* record 2 read into 100 bytes: truncated, the rest of it dropped */
		if (i == 2) {
			if (n != 100 || !(mh.msg_flags & MSG_TRUNC) || zt_verify(buf, 96, seed + i) >= 0)
				test_err("%s: record %d: read %zd bytes, flags %#x (want 100, MSG_TRUNC)",
					 what, i, n, mh.msg_flags);
			continue;
		}
		if (n != len[i] || (mh.msg_flags & MSG_TRUNC) || zt_verify(buf, n, seed + i) >= 0)
			test_err("%s: record %d is %zd bytes (want %d) or differs (%m)", what, i, n, len[i]);
	}
}

int main(int argc, char **argv)
{
	int sp[2], sh[2];

	test_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sh))
		fail("socketpair: %m");
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < 4; i++) {
			zt_fill(buf, rec_len[s][i], 0x5e00 + s * 16 + i);
			if (send(sp[s], buf, rec_len[s][i], 0) != rec_len[s][i])
				fail("send: %m");
		}
	for (int i = 0; i < 4; i++) {
		zt_fill(buf, rec_len[0][i], 0x5f00 + i);
		if (send(sh[0], buf, rec_len[0][i], 0) != rec_len[0][i])
			fail("send: %m");
	}
	if (shutdown(sh[0], SHUT_WR))
		fail("shutdown: %m");

	test_ready();
	test_waitsig();
	if (test_self_fail && recv(sp[1], buf, sizeof(buf), 0) < 0)
		test_err("self-test recv: %m");

	{
		int t = -1;
		socklen_t l = sizeof(t);

		if (getsockopt(sp[0], SOL_SOCKET, SO_TYPE, &t, &l) || t != SOCK_SEQPACKET)
			test_err("sp[0] is not SOCK_SEQPACKET (%d)", t);
	}
	check_records("records to sp[1]", sp[1], rec_len[0], 0x5e00);
	check_records("records to sp[0]", sp[0], rec_len[1], 0x5e10);
	if (recv(sp[0], buf, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		test_err("sp[0]: more records than were queued");
	if (send(sp[0], "new", 3, 0) != 3 || recv(sp[1], buf, sizeof(buf), MSG_DONTWAIT) != 3)
		test_err("the pair does not carry new records");

	check_records("records before SHUT_WR", sh[1], rec_len[0], 0x5f00);
	if (recv(sh[1], buf, 1, MSG_DONTWAIT) != 0)
		test_err("SHUT_WR: no EOF after the records (%m)");
	if (send(sh[0], "x", 1, 0) != -1 || errno != EPIPE)
		test_err("SHUT_WR: sending did not fail with EPIPE (%m)");
	if (send(sh[1], "y", 1, 0) != 1 || recv(sh[0], buf, 8, MSG_DONTWAIT) != 1)
		test_err("SHUT_WR: the other direction does not work");
	test_result();
}
