/* POSIX timers (timer_create): one armed for 600 s (CLOCK_MONOTONIC, signal
 * with a value), one never armed (CLOCK_REALTIME), one SIGEV_NONE with an
 * interval, a 10 ms periodic one whose signal stays blocked (overruns pile
 * up), one (CLOCK_BOOTTIME) due 1.5 s after it was armed, and a deleted one
 * leaving a gap in the ids. After restore: the same ids (/proc/self/timers and
 * si_timerid), clocks, signals and values; time left within bounds; the
 * periodic one fires with its value and counts overruns; the 1.5 s one fires
 * with its value, not before it was due. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ztest.h"

enum { T_ARMED, T_DELETED, T_UNARMED, T_NONE, T_PERIODIC, T_FIRE, NT };

static timer_t tid[NT];

static double ts(const struct timespec *t)
{
	return t->tv_sec + t->tv_nsec / 1e9;
}

static double now(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return ts(&t);
}

static void create(int i, clockid_t clock, int notify, int sig, int value)
{
	struct sigevent se;

	memset(&se, 0, sizeof(se));
	se.sigev_notify = notify;
	se.sigev_signo = sig;
	se.sigev_value.sival_int = value;
	if (timer_create(clock, &se, &tid[i]))
		fail("timer_create: %m");
}

static void arm(int i, double value, double interval)
{
	struct itimerspec it = {
		{ (time_t)interval, (long)((interval - (time_t)interval) * 1e9) },
		{ (time_t)value, (long)((value - (time_t)value) * 1e9) },
	};

	if (timer_settime(tid[i], 0, &it, NULL))
		fail("timer_settime: %m");
}

/* /proc/self/timers as sorted one-line records "ID|signal|notify|ClockID" */
static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void proc_timers(char *out, size_t len)
{
	char *s = zt_read_file("/proc/self/timers", NULL), *l, *rec[16];
	static char recs[16][256];
	int n = -1;

	out[0] = 0;
	if (!s)
		return;
	for (l = strtok(s, "\n"); l; l = strtok(NULL, "\n")) {
		if (!strncmp(l, "ID:", 3) && n < 15)
			recs[++n][0] = 0;
		if (n >= 0)
			snprintf(recs[n] + strlen(recs[n]), sizeof(recs[n]) - strlen(recs[n]), "%s|", l);
	}
	for (int i = 0; i <= n; i++)
		rec[i] = recs[i];
	qsort(rec, n + 1, sizeof(rec[0]), cmp);
	for (int i = 0; i <= n; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s\n", rec[i]);
	free(s);
}

/* the next signal sig from a timer, within seconds */
static int wait_timer_sig(int sig, siginfo_t *si, int seconds)
{
	struct timespec t = { seconds, 0 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	return sigtimedwait(&set, si, &t) == sig ? 0 : -1;
}

int main(int argc, char **argv)
{
	int s_armed = SIGRTMIN + 1, s_per = SIGRTMIN + 2;
	struct itimerspec before[NT];
	char timers_before[2048], timers_after[2048];
	double t_fire_armed, t_ready, elapsed;
	int gone[NT] = { 0 };
	siginfo_t si;
	sigset_t set;

	test_init(argc, argv);
	sigemptyset(&set);
	sigaddset(&set, s_armed);
	sigaddset(&set, s_per);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);

	create(T_ARMED, CLOCK_MONOTONIC, SIGEV_SIGNAL, s_armed, 101);
	create(T_DELETED, CLOCK_MONOTONIC, SIGEV_SIGNAL, s_armed, 999);
	create(T_UNARMED, CLOCK_REALTIME, SIGEV_SIGNAL, SIGUSR2, 102);
	create(T_NONE, CLOCK_MONOTONIC, SIGEV_NONE, 0, 0);
	create(T_PERIODIC, CLOCK_MONOTONIC, SIGEV_SIGNAL, s_per, 103);
	create(T_FIRE, CLOCK_BOOTTIME, SIGEV_SIGNAL, s_armed, 104);
	if (timer_delete(tid[T_DELETED]))
		fail("timer_delete: %m");
	arm(T_ARMED, 600, 0);
	arm(T_NONE, 300, 7);
	arm(T_PERIODIC, 0.01, 0.01);
	arm(T_FIRE, 1.5, 0);
	t_fire_armed = now(CLOCK_BOOTTIME);
	/* the periodic timer: one signal taken, with overruns */
	usleep(50 * 1000);
	if (wait_timer_sig(s_per, &si, 10) || si.si_value.sival_int != 103)
		fail("the periodic timer does not fire");
	for (int i = 0; i < NT; i++)
		if (i != T_DELETED)
			timer_gettime(tid[i], &before[i]);
	proc_timers(timers_before, sizeof(timers_before));
	t_ready = now(CLOCK_MONOTONIC);

	test_ready();
	test_waitsig();
	if (test_self_fail)
		timer_delete(tid[T_UNARMED]);
	elapsed = now(CLOCK_MONOTONIC) - t_ready;

	proc_timers(timers_after, sizeof(timers_after));
	if (strcmp(timers_before, timers_after))
		test_err("/proc/self/timers:\n%swas:\n%s", timers_after, timers_before);
	for (int i = 0; i < NT; i++) {
		struct itimerspec it;
		double rem_b = ts(&before[i].it_value), rem_a;

		if (i == T_DELETED)
			continue;
		if (timer_gettime(tid[i], &it)) {
			test_err("timer %d: timer_gettime: %m (its id is gone)", i);
			gone[i] = 1;
			continue;
		}
		if (i == T_FIRE)
			continue; /* it may have fired already */
		rem_a = ts(&it.it_value);
		if (it.it_interval.tv_sec != before[i].it_interval.tv_sec ||
		    it.it_interval.tv_nsec != before[i].it_interval.tv_nsec)
			test_err("timer %d: interval %.9f, was %.9f", i, ts(&it.it_interval),
				 ts(&before[i].it_interval));
		if (i == T_UNARMED && rem_a != 0)
			test_err("the unarmed timer is armed (%.3f s)", rem_a);
		if ((i == T_ARMED || i == T_NONE) && (rem_a <= 0 || rem_a > rem_b || rem_a < rem_b - elapsed - 1))
			test_err("timer %d: %.3f s left, was %.3f s %.3f s ago", i, rem_a, rem_b, elapsed);
		if (i == T_PERIODIC && (rem_a < 0 || rem_a > 0.01))
			test_err("the periodic timer: %.6f s to its next expiry", rem_a);
	}
	if (timer_gettime(tid[T_DELETED], &before[0]) != -1 || errno != EINVAL)
		test_err("the deleted timer's id exists again");

	/* the periodic timer fires with its id and value; overruns are counted */
	for (int round = 0; round < 2 && !gone[T_PERIODIC]; round++) {
		memset(&si, 0, sizeof(si));
		if (round)
			usleep(50 * 1000); /* 5 periods, the signal blocked */
		if (wait_timer_sig(s_per, &si, 10) || si.si_code != SI_TIMER || si.si_value.sival_int != 103 ||
		    si.si_timerid != (int)(long)tid[T_PERIODIC]) {
			test_err("the periodic timer: no signal with its id and value (code %d value %d id %d)",
				 si.si_code, si.si_value.sival_int, si.si_timerid);
			break;
		}
		if (round && (si.si_overrun < 1 || timer_getoverrun(tid[T_PERIODIC]) != si.si_overrun))
			test_err("the periodic timer: overrun %d (timer_getoverrun %d) after 5 periods",
				 si.si_overrun, timer_getoverrun(tid[T_PERIODIC]));
	}
	/* the 1.5 s timer: fires once, with its value, not early */
	if (gone[T_FIRE])
		; /* no timer, no signal to wait for */
	else if (wait_timer_sig(s_armed, &si, 30) || si.si_code != SI_TIMER || si.si_value.sival_int != 104 ||
	    si.si_timerid != (int)(long)tid[T_FIRE])
		test_err("the 1.5 s timer did not fire with its id and value (value %d id %d)",
			 si.si_value.sival_int, si.si_timerid);
	else if (now(CLOCK_BOOTTIME) < t_fire_armed + 1.5)
		test_err("the 1.5 s timer fired early");
	if (!wait_timer_sig(s_armed, &si, 0))
		test_err("another signal %d (value %d): the 600 s timer fired?", si.si_signo,
			 si.si_value.sival_int);
	for (int i = 0; i < NT; i++)
		if (i != T_DELETED && timer_delete(tid[i]))
			test_err("timer %d: timer_delete: %m", i);
	test_result();
}
