/* eventfd: a counter of 15 (blocking), an EFD_SEMAPHORE one of 3 (O_NONBLOCK),
 * one at the maximum (a write of 1 would block: EAGAIN), one at zero (not
 * readable). Counters, flags and blocking behaviour must come back. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ztest.h"

#define MAXCOUNT 0xfffffffffffffffeULL

static int ready(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };

	return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

static uint64_t rd(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, 8) != 8)
		return 0;
	return v;
}

int main(int argc, char **argv)
{
	int plain, sem, full, zero, fl[4], fdfl[4];
	char fdinfo[4][1024];
	uint64_t one = 1, max = MAXCOUNT;

	test_init(argc, argv);
	plain = eventfd(5, 0);
	sem = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
	full = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	zero = eventfd(0, 0);
	if (plain < 0 || sem < 0 || full < 0 || zero < 0)
		fail("eventfd: %m");
	if (write(plain, &(uint64_t){ 10 }, 8) != 8 || write(full, &max, 8) != 8)
		fail("write: %m");
	{
		int fds[4] = { plain, sem, full, zero };

		for (int i = 0; i < 4; i++) {
			char p[64];

			fl[i] = fcntl(fds[i], F_GETFL);
			fdfl[i] = fcntl(fds[i], F_GETFD);
			snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fds[i]);
			if (zt_proc_value(p, "eventfd-count:", fdinfo[i], sizeof(fdinfo[i])))
				fail("no eventfd-count in %s", p);
		}
	}

	test_ready();
	test_waitsig();
	if (test_self_fail && write(plain, &one, 8) != 8)
		test_err("self-test write: %m");

	{
		int fds[4] = { plain, sem, full, zero };

		for (int i = 0; i < 4; i++) {
			char p[64], v[1024], link[64];
			ssize_t n;

			if (fcntl(fds[i], F_GETFL) != fl[i] || fcntl(fds[i], F_GETFD) != fdfl[i])
				test_err("eventfd %d: flags %#o/%#x, were %#o/%#x", fds[i],
					 fcntl(fds[i], F_GETFL), fcntl(fds[i], F_GETFD), fl[i], fdfl[i]);
			snprintf(p, sizeof(p), "/proc/self/fd/%d", fds[i]);
			n = readlink(p, link, sizeof(link) - 1);
			link[n > 0 ? n : 0] = 0;
			if (strcmp(link, "anon_inode:[eventfd]"))
				test_err("fd %d is '%s'", fds[i], link);
			snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fds[i]);
			if (zt_proc_value(p, "eventfd-count:", v, sizeof(v)) || strcmp(v, fdinfo[i]))
				test_err("eventfd %d: count '%s', was '%s'", fds[i], v, fdinfo[i]);
		}
	}
	/* plain: 15 in one read, then not readable (a read would block) */
	if (rd(plain) != 15)
		test_err("plain eventfd: did not read 15");
	if (ready(plain, POLLIN))
		test_err("plain eventfd: readable at 0");
	/* semaphore: three reads of 1, then EAGAIN */
	for (int i = 0; i < 3; i++)
		if (rd(sem) != 1)
			test_err("semaphore eventfd: read %d did not give 1", i);
	if (read(sem, &one, 8) != -1 || errno != EAGAIN)
		test_err("semaphore eventfd: a 4th read did not give EAGAIN (%m)");
	/* at the maximum: not writable, a write gives EAGAIN */
	one = 1;
	if (ready(full, POLLOUT) & POLLOUT)
		test_err("full eventfd: writable");
	if (write(full, &one, 8) != -1 || errno != EAGAIN)
		test_err("full eventfd: a write did not give EAGAIN (%m)");
	if (rd(full) != MAXCOUNT)
		test_err("full eventfd: did not read the maximum");
	/* zero: not readable; becomes readable when written */
	if (ready(zero, POLLIN))
		test_err("zero eventfd: readable");
	if (write(zero, &one, 8) != 8 || rd(zero) != 1)
		test_err("zero eventfd: does not count");
	test_result();
}
