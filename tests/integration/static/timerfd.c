/* timerfd: CLOCK_MONOTONIC relative (1000 s, interval 500 s), CLOCK_REALTIME
 * absolute (now + 2000 s), an expired one-shot not read (1 tick), a 20 ms
 * periodic one whose ticks pile up unread, a CLOCK_BOOTTIME one never armed.
 * After restore: clock, settime flags, interval, remaining time within bounds
 * (never more than before), ticks not read (fdinfo and read()). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "ztest.h"

enum { T_MONO, T_REAL, T_EXPIRED, T_PERIODIC, T_IDLE, NT };

static const char *tname[NT] = { "monotonic", "realtime-abs", "expired", "periodic", "idle" };
static const int tclock[NT] = { CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC,
				CLOCK_BOOTTIME };

struct tinfo {
	char clockid[32], flags[32];
	unsigned long long ticks;
	struct itimerspec cur;
	int fl;
};

static int tfd[NT];

static double ts(const struct timespec *t)
{
	return t->tv_sec + t->tv_nsec / 1e9;
}

static double mono_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return ts(&t);
}

static void get(int i, struct tinfo *ti)
{
	char p[64], v[64];

	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", tfd[i]);
	memset(ti, 0, sizeof(*ti));
	zt_proc_value(p, "clockid:", ti->clockid, sizeof(ti->clockid));
	zt_proc_value(p, "settime flags:", ti->flags, sizeof(ti->flags));
	if (!zt_proc_value(p, "ticks:", v, sizeof(v)))
		ti->ticks = strtoull(v, NULL, 10);
	timerfd_gettime(tfd[i], &ti->cur);
	ti->fl = fcntl(tfd[i], F_GETFL);
}

int main(int argc, char **argv)
{
	struct tinfo before[NT], after;
	struct timespec now;
	double t_before, elapsed;
	uint64_t ticks;

	test_init(argc, argv);
	for (int i = 0; i < NT; i++) {
		tfd[i] = timerfd_create(tclock[i], i == T_EXPIRED || i == T_PERIODIC ? TFD_NONBLOCK : 0);
		if (tfd[i] < 0)
			fail("timerfd_create: %m");
	}
	clock_gettime(CLOCK_REALTIME, &now);
	if (timerfd_settime(tfd[T_MONO], 0, &(struct itimerspec){ { 500, 0 }, { 1000, 0 } }, NULL) ||
	    timerfd_settime(tfd[T_REAL], TFD_TIMER_ABSTIME,
			    &(struct itimerspec){ { 0, 0 }, { now.tv_sec + 2000, 0 } }, NULL) ||
	    timerfd_settime(tfd[T_EXPIRED], 0, &(struct itimerspec){ { 0, 0 }, { 0, 1000000 } }, NULL) ||
	    timerfd_settime(tfd[T_PERIODIC], 0, &(struct itimerspec){ { 0, 20000000 }, { 0, 20000000 } },
			    NULL))
		fail("timerfd_settime: %m");
	/* wait (without reading) until the one-shot expired and 3 periods passed */
	{
		struct pollfd p = { .fd = tfd[T_EXPIRED], .events = POLLIN };

		if (poll(&p, 1, 30000) != 1)
			fail("the 1 ms timer did not expire");
		for (int n = 0; n < 30000; n++) {
			get(T_PERIODIC, &before[T_PERIODIC]);
			if (before[T_PERIODIC].ticks >= 3)
				break;
			usleep(1000);
		}
	}
	for (int i = 0; i < NT; i++)
		get(i, &before[i]);
	t_before = mono_now();
	if (before[T_EXPIRED].ticks != 1 || before[T_PERIODIC].ticks < 3)
		fail("ticks %llu and %llu before the checkpoint", before[T_EXPIRED].ticks,
		     before[T_PERIODIC].ticks);

	test_ready();
	test_waitsig();
	if (test_self_fail)
		timerfd_settime(tfd[T_MONO], 0, &(struct itimerspec){ { 0, 0 }, { 0, 0 } }, NULL);
	elapsed = mono_now() - t_before;

	for (int i = 0; i < NT; i++) {
		struct tinfo *b = &before[i];
		double rem_b = ts(&b->cur.it_value), rem_a;

		get(i, &after);
		rem_a = ts(&after.cur.it_value);
		if (strcmp(after.clockid, b->clockid) || strcmp(after.flags, b->flags) || after.fl != b->fl)
			test_err("%s: clockid %s, settime flags %s, F_GETFL %#o; were %s, %s, %#o", tname[i],
				 after.clockid, after.flags, after.fl, b->clockid, b->flags, b->fl);
		if (after.cur.it_interval.tv_sec != b->cur.it_interval.tv_sec ||
		    after.cur.it_interval.tv_nsec != b->cur.it_interval.tv_nsec)
			test_err("%s: interval %.9f, was %.9f", tname[i], ts(&after.cur.it_interval),
				 ts(&b->cur.it_interval));
		switch (i) {
		case T_MONO:
		case T_REAL:
			/* counting down: not more than before, not less than before minus what passed */
			if (rem_a <= 0 || rem_a > rem_b || rem_a < rem_b - elapsed - 1)
				test_err("%s: %.3f s left, was %.3f s %.3f s ago", tname[i], rem_a, rem_b, elapsed);
			if (after.ticks)
				test_err("%s: %llu ticks", tname[i], after.ticks);
			break;
		case T_EXPIRED:
		case T_IDLE:
			if (after.cur.it_value.tv_sec || after.cur.it_value.tv_nsec)
				test_err("%s: armed (%.3f s left)", tname[i], rem_a);
			if (after.ticks != b->ticks)
				test_err("%s: %llu ticks, were %llu", tname[i], after.ticks, b->ticks);
			break;
		case T_PERIODIC:
			if (after.ticks < b->ticks || rem_a < 0 || rem_a > 0.020)
				test_err("%s: %llu ticks (were %llu), %.3f s to the next", tname[i], after.ticks,
					 b->ticks, rem_a);
			break;
		}
	}
	/* reading the ticks */
	if (read(tfd[T_EXPIRED], &ticks, 8) != 8 || ticks != 1)
		test_err("expired: read did not give 1 tick");
	if (read(tfd[T_EXPIRED], &ticks, 8) != -1 || errno != EAGAIN)
		test_err("expired: a second read did not give EAGAIN (%m)");
	if (read(tfd[T_PERIODIC], &ticks, 8) != 8 || ticks < before[T_PERIODIC].ticks)
		test_err("periodic: read %llu ticks, fewer than the %llu before", (unsigned long long)ticks,
			 before[T_PERIODIC].ticks);
	{
		struct pollfd p = { .fd = tfd[T_PERIODIC], .events = POLLIN };

		if (poll(&p, 1, 10000) != 1 || read(tfd[T_PERIODIC], &ticks, 8) != 8 || ticks < 1)
			test_err("periodic: no new tick");
		p.fd = tfd[T_MONO];
		if (poll(&p, 1, 0) != 0)
			test_err("monotonic: readable before it expired");
	}
	test_result();
}
