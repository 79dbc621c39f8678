/* signalfd: one for {SIGUSR1, SIGRTMIN+3} (SFD_NONBLOCK|SFD_CLOEXEC) with
 * SIGUSR1 and three queued SIGRTMIN+3 (values 11, 22, 33) pending, one for
 * {SIGUSR2} (blocking) with nothing pending. After restore: the masks and
 * flags, the signals it reads (in order, with their values and sender), then
 * EAGAIN; the blocking one is not readable until SIGUSR2 comes. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ztest.h"

static void fdinfo_mask(int fd, char *out, size_t len)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
	if (zt_proc_value(p, "sigmask:", out, len))
		snprintf(out, len, "(none)");
}

static int next(int fd, struct signalfd_siginfo *si)
{
	return read(fd, si, sizeof(*si)) == sizeof(*si) ? 0 : -1;
}

int main(int argc, char **argv)
{
	int rt = SIGRTMIN + 3, sfd1, sfd2, fl1, fl2, fd1fl;
	char mask1[64], mask2[64], now[64];
	sigset_t set, set1, set2;
	struct signalfd_siginfo si;

	test_init(argc, argv);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, rt);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigemptyset(&set1);
	sigaddset(&set1, SIGUSR1);
	sigaddset(&set1, rt);
	sigemptyset(&set2);
	sigaddset(&set2, SIGUSR2);
	sfd1 = signalfd(-1, &set1, SFD_NONBLOCK | SFD_CLOEXEC);
	sfd2 = signalfd(-1, &set2, 0);
	if (sfd1 < 0 || sfd2 < 0)
		fail("signalfd: %m");
	kill(getpid(), SIGUSR1);
	for (int i = 1; i <= 3; i++)
		if (sigqueue(getpid(), rt, (union sigval){ .sival_int = 11 * i }))
			fail("sigqueue: %m");
	fl1 = fcntl(sfd1, F_GETFL);
	fl2 = fcntl(sfd2, F_GETFL);
	fd1fl = fcntl(sfd1, F_GETFD);
	fdinfo_mask(sfd1, mask1, sizeof(mask1));
	fdinfo_mask(sfd2, mask2, sizeof(mask2));

	test_ready();
	test_waitsig();
	if (test_self_fail && next(sfd1, &si))
		test_err("self-test read: %m");

	fdinfo_mask(sfd1, now, sizeof(now));
	if (strcmp(now, mask1))
		test_err("signalfd 1: sigmask %s, was %s", now, mask1);
	fdinfo_mask(sfd2, now, sizeof(now));
	if (strcmp(now, mask2))
		test_err("signalfd 2: sigmask %s, was %s", now, mask2);
	if (fcntl(sfd1, F_GETFL) != fl1 || fcntl(sfd2, F_GETFL) != fl2 || fcntl(sfd1, F_GETFD) != fd1fl)
		test_err("flags changed: %#o %#o %#x, were %#o %#o %#x", fcntl(sfd1, F_GETFL),
			 fcntl(sfd2, F_GETFL), fcntl(sfd1, F_GETFD), fl1, fl2, fd1fl);

	/* SIGUSR1 first (lowest number), then the RT signals in the order queued */
	if (next(sfd1, &si) || si.ssi_signo != SIGUSR1 || si.ssi_code != SI_USER ||
	    si.ssi_pid != (uint32_t)getpid())
		test_err("signalfd 1: first read is not SIGUSR1 from this process (signo %u code %d pid %u)",
			 si.ssi_signo, si.ssi_code, si.ssi_pid);
	for (int i = 1; i <= 3; i++) {
		memset(&si, 0, sizeof(si));
		if (next(sfd1, &si) || si.ssi_signo != (uint32_t)rt || si.ssi_code != SI_QUEUE ||
		    si.ssi_int != 11 * i || si.ssi_pid != (uint32_t)getpid())
			test_err("signalfd 1: RT signal %d: signo %u code %d value %d pid %u", i, si.ssi_signo,
				 si.ssi_code, si.ssi_int, si.ssi_pid);
	}
	if (read(sfd1, &si, sizeof(si)) != -1 || errno != EAGAIN)
		test_err("signalfd 1: more signals than were pending (%m)");

	/* the blocking one: nothing to read (a read would block) until SIGUSR2 */
	{
		struct pollfd p = { .fd = sfd2, .events = POLLIN };

		if (poll(&p, 1, 0) != 0)
			test_err("signalfd 2: readable with nothing pending");
		kill(getpid(), SIGUSR2);
		if (poll(&p, 1, 5000) != 1 || next(sfd2, &si) || si.ssi_signo != SIGUSR2)
			test_err("signalfd 2: SIGUSR2 not read");
	}
	/* and SIGUSR1 again: the mask still works */
	kill(getpid(), SIGUSR1);
	if (next(sfd1, &si) || si.ssi_signo != SIGUSR1)
		test_err("signalfd 1: a new SIGUSR1 is not read");
	test_result();
}
