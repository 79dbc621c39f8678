/* Per-process environment: rlimits (some soft limits lowered), cwd (a temp
 * dir), umask, process name (PR_SET_NAME), itimers (ITIMER_REAL with an
 * interval, ITIMER_VIRTUAL, ITIMER_PROF), personality-free prctl bits
 * (PR_SET_PDEATHSIG, PR_SET_DUMPABLE), nice value. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ztest.h"

#define NAME "zt-env-name"

static struct rlimit rl_before[RLIM_NLIMITS];
static char cwd_before[4096];
static struct itimerval it_set[3] = {
	{ { 50, 0 }, { 100, 0 } },   /* REAL: every 50 s, first in 100 s */
	{ { 0, 0 }, { 200, 0 } },    /* VIRTUAL */
	{ { 7, 500000 }, { 300, 0 } } /* PROF */
};
static volatile int alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void lower(int res, rlim_t soft)
{
	struct rlimit r;

	getrlimit(res, &r);
	if (r.rlim_max != RLIM_INFINITY && soft > r.rlim_max)
		soft = r.rlim_max;
	r.rlim_cur = soft;
	if (setrlimit(res, &r))
		fail("setrlimit(%d): %m", res);
}

int main(int argc, char **argv)
{
	char dir[4096], name[32];
	int nice_before;
	struct timespec t0;

	test_init(argc, argv);

	lower(RLIMIT_NOFILE, 777);
	lower(RLIMIT_CORE, 12345 * 512);
	lower(RLIMIT_STACK, 4 * 1024 * 1024);
	lower(RLIMIT_FSIZE, 1ULL << 40);
	lower(RLIMIT_NPROC, 5000);
	lower(RLIMIT_MSGQUEUE, 4096);
	for (int i = 0; i < RLIM_NLIMITS; i++)
		getrlimit(i, &rl_before[i]);

	snprintf(dir, sizeof(dir), "%s/env cwd.d", test_tmpdir());
	mkdir(dir, 0700);
	if (chdir(dir))
		fail("chdir: %m");
	if (!getcwd(cwd_before, sizeof(cwd_before)))
		fail("getcwd: %m");
	umask(0027);
	if (prctl(PR_SET_NAME, NAME))
		fail("PR_SET_NAME: %m");
	prctl(PR_SET_PDEATHSIG, SIGWINCH); /* harmless if it fires */
	prctl(PR_SET_DUMPABLE, 0);
	errno = 0;
	nice_before = nice(3);
	signal(SIGALRM, on_alarm);
	signal(SIGVTALRM, on_alarm);
	signal(SIGPROF, on_alarm);
	if (setitimer(ITIMER_REAL, &it_set[0], NULL) || setitimer(ITIMER_VIRTUAL, &it_set[1], NULL) ||
	    setitimer(ITIMER_PROF, &it_set[2], NULL))
		fail("setitimer: %m");
	clock_gettime(CLOCK_MONOTONIC, &t0);

	test_ready();
	test_waitsig();
	if (test_self_fail)
		umask(0022);

	for (int i = 0; i < RLIM_NLIMITS; i++) {
		struct rlimit r;

		getrlimit(i, &r);
		if (r.rlim_cur != rl_before[i].rlim_cur || r.rlim_max != rl_before[i].rlim_max)
			test_err("rlimit %d: %llu/%llu, was %llu/%llu", i, (unsigned long long)r.rlim_cur,
				 (unsigned long long)r.rlim_max, (unsigned long long)rl_before[i].rlim_cur,
				 (unsigned long long)rl_before[i].rlim_max);
	}
	if (!getcwd(dir, sizeof(dir)) || strcmp(dir, cwd_before))
		test_err("cwd is '%s', was '%s'", dir, cwd_before);
	{
		mode_t m = umask(0);

		if (m != 0027)
			test_err("umask %#o, was 027", m);
	}
	memset(name, 0, sizeof(name));
	prctl(PR_GET_NAME, name);
	if (strcmp(name, NAME))
		test_err("process name '%s', was '%s'", name, NAME);
	{
		char *comm = zt_read_file("/proc/self/comm", NULL);

		if (!comm || strcmp(comm, NAME "\n"))
			test_err("/proc/self/comm is '%s'", comm ? comm : "?");
		free(comm);
	}
	if (prctl(PR_GET_PDEATHSIG, &(int){ 0 }) == 0) {
		int s = 0;

		prctl(PR_GET_PDEATHSIG, &s);
		if (s != SIGWINCH)
			test_msg("pdeath signal %d (was SIGWINCH; the parent changed on restore)", s);
	}
	if (prctl(PR_GET_DUMPABLE) != 0)
		test_err("dumpable is %d, was 0", prctl(PR_GET_DUMPABLE));
	errno = 0;
	if (nice(0) != nice_before)
		test_err("nice %d, was %d", nice(0), nice_before);
	for (int i = 0; i < 3; i++) {
		struct itimerval now;

		getitimer(i, &now);
		if (now.it_interval.tv_sec != it_set[i].it_interval.tv_sec ||
		    now.it_interval.tv_usec != it_set[i].it_interval.tv_usec)
			test_err("itimer %d interval %ld.%06ld, was %ld.%06ld", i,
				 (long)now.it_interval.tv_sec, (long)now.it_interval.tv_usec,
				 (long)it_set[i].it_interval.tv_sec, (long)it_set[i].it_interval.tv_usec);
		if (!now.it_value.tv_sec && !now.it_value.tv_usec)
			test_err("itimer %d is disarmed", i);
		if (now.it_value.tv_sec > it_set[i].it_value.tv_sec)
			test_err("itimer %d value went up: %ld s", i, (long)now.it_value.tv_sec);
	}
	{
		struct itimerval now;
		struct timespec t1;

		getitimer(ITIMER_REAL, &now);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		/* the real timer kept running while the process did: remaining ~=
		 * 100 - elapsed, plus the time it spent checkpointed (not counted) */
		long expect = 100 - (t1.tv_sec - t0.tv_sec);

		if (now.it_value.tv_sec < expect - 2 || now.it_value.tv_sec > expect + 30)
			test_err("ITIMER_REAL remaining %ld s, expected about %ld s",
				 (long)now.it_value.tv_sec, expect);
	}
	if (alarms)
		test_err("a timer fired %d times too early", alarms);
	rmdir(cwd_before);
	test_result();
}
