/* Pipes with both ends in one task: data queued (200000 bytes in a 1 MiB pipe
 * set with F_SETPIPE_SZ), a full O_NONBLOCK pipe (the writer gets EAGAIN), an
 * O_DIRECT (packet) pipe with its packet boundaries, a pipe whose writer is gone
 * (data, then EOF) and one whose reader is gone (EPIPE). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ztest.h"

#define BIG_SZ (1 << 20)
#define BIG_DATA 200000
static const int pkt_len[] = { 100, 1, 3000 };

static unsigned char buf[BIG_SZ];

static int queued(int fd)
{
	int n = -1;

	if (ioctl(fd, FIONREAD, &n))
		return -1;
	return n;
}

static int readable_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

static void check_flags(const char *what, int fd, int want)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl != want)
		test_err("%s: F_GETFL %#o, want %#o", what, fl, want);
}

static void check_pair(const char *what, int r, int w)
{
	struct stat a, b;

	if (fstat(r, &a) || fstat(w, &b) || !S_ISFIFO(a.st_mode) || a.st_ino != b.st_ino)
		test_err("%s: fds %d and %d are not the two ends of one pipe", what, r, w);
}

int main(int argc, char **argv)
{
	int big[2], full[2], pkt[2], hup[2], epipe[2];
	int full_bytes = 0;
	ssize_t n;

	test_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	if (pipe(big) || pipe2(full, O_NONBLOCK) || pipe2(pkt, O_DIRECT) || pipe(hup) || pipe(epipe))
		fail("pipe: %m");

	/* 200000 bytes queued in a 1 MiB pipe (more than the default 64 KiB holds) */
	if (fcntl(big[1], F_SETPIPE_SZ, BIG_SZ) != BIG_SZ)
		fail("F_SETPIPE_SZ: %m");
	zt_fill(buf, BIG_DATA, 0x919e);
	if (write(big[1], buf, BIG_DATA) != BIG_DATA)
		fail("write: %m");

	/* a full non-blocking pipe */
	zt_fill(buf, 4096, 0xf011);
	while ((n = write(full[1], buf, 4096)) > 0)
		full_bytes += n;
	if (errno != EAGAIN || full_bytes < 4096)
		fail("filling a pipe: %m after %d bytes", full_bytes);

	/* packets */
	for (int i = 0; i < 3; i++) {
		zt_fill(buf, pkt_len[i], 0x9c0 + i);
		if (write(pkt[1], buf, pkt_len[i]) != pkt_len[i])
			fail("write packet: %m");
	}

	/* the writer is gone: "tail" then EOF; the reader is gone: EPIPE */
	if (write(hup[1], "tail", 4) != 4)
		fail("write: %m");
	close(hup[1]);
	close(epipe[0]);

	test_ready();
	test_waitsig();
	if (test_self_fail && read(big[0], buf, 1) != 1)
		test_err("self-test read: %m");

	/* the big pipe: size, queued bytes, contents, then empty (a read would block) */
	check_pair("big pipe", big[0], big[1]);
	check_flags("big pipe read end", big[0], O_RDONLY);
	check_flags("big pipe write end", big[1], O_WRONLY);
	if (fcntl(big[0], F_GETPIPE_SZ) != BIG_SZ)
		test_err("big pipe: F_GETPIPE_SZ %d, want %d", fcntl(big[0], F_GETPIPE_SZ), BIG_SZ);
	if (queued(big[0]) != BIG_DATA)
		test_err("big pipe: %d bytes queued, want %d", queued(big[0]), BIG_DATA);
	else {
		memset(buf, 0, BIG_DATA);
		for (n = 0; n < BIG_DATA;) {
			ssize_t r = read(big[0], buf + n, BIG_DATA - n);

			if (r <= 0)
				break;
			n += r;
		}
		if (n != BIG_DATA)
			test_err("big pipe: read %zd of %d bytes: %m", n, BIG_DATA);
		zt_check("big pipe data", buf, BIG_DATA, 0x919e);
		if (readable_now(big[0]))
			test_err("big pipe: readable after its data was read");
	}

	/* the full pipe: still full, still non-blocking on both ends */
	check_pair("full pipe", full[0], full[1]);
	check_flags("full pipe read end", full[0], O_RDONLY | O_NONBLOCK);
	check_flags("full pipe write end", full[1], O_WRONLY | O_NONBLOCK);
	if (queued(full[0]) != full_bytes)
		test_err("full pipe: %d bytes queued, want %d", queued(full[0]), full_bytes);
	if (write(full[1], "x", 1) != -1 || errno != EAGAIN)
		test_err("full pipe: a write did not fail with EAGAIN (%m)");
	for (int i = 0; i < full_bytes / 4096; i++)
		if (read(full[0], buf, 4096) != 4096 || zt_verify(buf, 4096, 0xf011) >= 0) {
			test_err("full pipe: chunk %d differs", i);
			break;
		}
	if (read(full[0], buf, 1) != -1 || errno != EAGAIN)
		test_err("full pipe: reading the empty pipe did not give EAGAIN (%m)");

	/* packets: one read, one packet */
	check_pair("packet pipe", pkt[0], pkt[1]);
	check_flags("packet pipe read end", pkt[0], O_RDONLY); /* O_DIRECT is the writer's */
	check_flags("packet pipe write end", pkt[1], O_WRONLY | O_DIRECT);
	for (int i = 0; i < 3 && !test_failed(); i++) {
		if (!(readable_now(pkt[0]) & POLLIN)) {
			test_err("packet pipe: packet %d missing", i);
			break;
		}
		n = read(pkt[0], buf, sizeof(buf));
		if (n != pkt_len[i] || zt_verify(buf, n, 0x9c0 + i) >= 0)
			test_err("packet pipe: packet %d is %zd bytes (want %d) or differs", i, n,
				 pkt_len[i]);
	}

	/* writer gone: the data, then EOF (POLLHUP checked first: a read must not block) */
	if (!(readable_now(hup[0]) & POLLHUP))
		test_err("pipe without a writer: no POLLHUP (a writer is open somewhere)");
	else if (read(hup[0], buf, 16) != 4 || memcmp(buf, "tail", 4) || read(hup[0], buf, 16) != 0)
		test_err("pipe without a writer: not \"tail\" then EOF");

	/* reader gone */
	if (write(epipe[1], "x", 1) != -1 || errno != EPIPE)
		test_err("pipe without a reader: write did not fail with EPIPE (%m)");

	/* the pipes still work */
	if (write(big[1], "ping", 4) != 4 || read(big[0], buf, 4) != 4 || memcmp(buf, "ping", 4))
		test_err("big pipe: does not carry new data");
	test_result();
}
