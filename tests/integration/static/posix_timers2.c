/* More POSIX timers, beside posix_timers: a SIGEV_THREAD_ID timer aimed at a
 * worker thread (10 ms periodic, its signal pending in that thread's own queue),
 * a glibc SIGEV_THREAD timer whose callback keeps counting, a timer on the
 * process CPU-time clock, and a 1.5 s periodic timer whose last signal came with an
 * overrun and whose next one is not due before the checkpoint (timer_getoverrun()
 * must give the same count after restore). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ztest.h"

enum { T_THREAD, T_CALLBACK, T_CPU, T_OVERRUN, NT };

static timer_t tid[NT];
static int worker_tid, worker_go, worker_ok, callbacks;
static int s_thread, s_over;

static double ts(const struct timespec *t)
{
	return t->tv_sec + t->tv_nsec / 1e9;
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

static void callback(union sigval v)
{
	if (v.sival_int == 0x5eed)
		zt_post(&callbacks, 1);
}

/* Its timer's signal stays pending in this thread's queue until the check. */
static void *worker(void *arg)
{
	sigset_t set;
	siginfo_t si;
	struct timespec t = { 10, 0 };

	(void)arg;
	__atomic_store_n(&worker_tid, zt_gettid(), __ATOMIC_SEQ_CST);
	zt_wait_ge(&worker_go, 1, 3600);
	sigemptyset(&set);
	sigaddset(&set, s_thread);
	if (sigtimedwait(&set, &si, &t) != s_thread || si.si_code != SI_TIMER || si.si_value.sival_int != 201 ||
	    si.si_timerid != (int)(long)tid[T_THREAD])
		test_err("the worker did not get its timer's signal (code %d value %d id %d)", si.si_code,
			 si.si_value.sival_int, si.si_timerid);
	else
		zt_post(&worker_ok, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sigevent se;
	struct itimerspec cpu_before, it;
	pthread_t w;
	sigset_t set;
	siginfo_t si;
	int over_before, c0;

	test_init(argc, argv);
	s_thread = SIGRTMIN + 4;
	s_over = SIGRTMIN + 5;
	sigemptyset(&set);
	sigaddset(&set, s_thread);
	sigaddset(&set, s_over);
	sigprocmask(SIG_BLOCK, &set, NULL); /* the worker inherits it */
	if (pthread_create(&w, NULL, worker, NULL))
		fail("pthread_create");
	while (!__atomic_load_n(&worker_tid, __ATOMIC_SEQ_CST))
		usleep(1000);

	memset(&se, 0, sizeof(se));
	se.sigev_notify = SIGEV_THREAD_ID;
	se.sigev_signo = s_thread;
	se.sigev_value.sival_int = 201;
	se._sigev_un._tid = worker_tid;
	if (timer_create(CLOCK_MONOTONIC, &se, &tid[T_THREAD]))
		fail("timer_create SIGEV_THREAD_ID: %m");
	memset(&se, 0, sizeof(se));
	se.sigev_notify = SIGEV_THREAD;
	se.sigev_notify_function = callback;
	se.sigev_value.sival_int = 0x5eed;
	if (timer_create(CLOCK_MONOTONIC, &se, &tid[T_CALLBACK]))
		fail("timer_create SIGEV_THREAD: %m");
	memset(&se, 0, sizeof(se));
	se.sigev_notify = SIGEV_NONE;
	if (timer_create(CLOCK_PROCESS_CPUTIME_ID, &se, &tid[T_CPU]))
		fail("timer_create CPU clock: %m");
	memset(&se, 0, sizeof(se));
	se.sigev_notify = SIGEV_SIGNAL;
	se.sigev_signo = s_over;
	se.sigev_value.sival_int = 202;
	if (timer_create(CLOCK_MONOTONIC, &se, &tid[T_OVERRUN]))
		fail("timer_create: %m");

	arm(T_THREAD, 0.01, 0.01);
	arm(T_CALLBACK, 0.02, 0.02);
	arm(T_CPU, 100, 0);
	/* first expiry at 10 ms, then every 1.5 s: taken at 1.6 s, it counts an overrun, and
	 * its next signal is not due before the checkpoint (a signal pending at the
	 * checkpoint would carry the count instead: timer_getoverrun() gives 0 until it is
	 * taken, a limit the README states) */
	arm(T_OVERRUN, 0.01, 1.5);
	usleep(1600 * 1000);
	if (sigwaitinfo(&set, &si) != s_over && sigwaitinfo(&set, &si) != s_over)
		fail("no signal from the overrun timer");
	over_before = timer_getoverrun(tid[T_OVERRUN]);
	if (over_before < 1)
		fail("the overrun timer counted %d overruns", over_before);

	if (zt_wait_ge(&callbacks, 2, 30))
		fail("the SIGEV_THREAD timer does not call back");
	timer_gettime(tid[T_CPU], &cpu_before);
	test_msg("overruns of the last signal: %d", over_before);

	test_ready();
	test_waitsig();
	if (test_self_fail)
		arm(T_OVERRUN, 0.5, 1.5); /* a new arming forgets the overruns */

	for (int i = 0; i < NT; i++)
		if (timer_gettime(tid[i], &it))
			test_err("timer %d: timer_gettime: %m (its id is gone)", i);
	if (!test_failed()) {
		int over = timer_getoverrun(tid[T_OVERRUN]);

		if (over != over_before)
			test_err("timer_getoverrun() gives %d, gave %d", over, over_before);
		timer_gettime(tid[T_CPU], &it);
		if (ts(&it.it_value) <= 0 || ts(&it.it_value) > ts(&cpu_before.it_value))
			test_err("the CPU-time timer: %.3f s left, was %.3f s", ts(&it.it_value),
				 ts(&cpu_before.it_value));
		c0 = __atomic_load_n(&callbacks, __ATOMIC_SEQ_CST);
		if (zt_wait_ge(&callbacks, c0 + 3, 30))
			test_err("the SIGEV_THREAD timer's callback does not run after restore");
	}
	zt_post(&worker_go, 1);
	zt_join(w, 30, "the worker");
	if (!worker_ok)
		test_err("the SIGEV_THREAD_ID timer's signal did not reach its thread");
	test_result();
}
