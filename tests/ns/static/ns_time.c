/*
 * A container in a time namespace whose clocks are a day (monotonic) and two days
 * (boottime) ahead of the host's (nsrun --ns pid,mnt,time). After the restore both
 * clocks continue from where they were: never back, not ahead by more than the time
 * the dump and restore took, still ahead of the host's by the offsets' order.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ztest.h"

#define NS 1000000000LL

static long long clk(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec * NS + ts.tv_nsec;
}

static void check(const char *what, long long before, long long after, long long min)
{
	if (after < before)
		test_err("%s went back by %lld ns", what, before - after);
	else if (after - before > 120 * NS)
		test_err("%s jumped ahead by %lld s", what, (after - before) / NS);
	if (after < min)
		test_err("%s is %lld s, not at least %lld s ahead", what, after / NS, min / NS);
}

int main(int argc, char **argv)
{
	long long mono, boot, mono2, boot2;
	double up;
	char *s;

	test_init(argc, argv);
	mono = clk(CLOCK_MONOTONIC);
	boot = clk(CLOCK_BOOTTIME);
	if (mono < 86400 * NS || boot < 172800 * NS)
		fail("not in nsrun's time namespace: monotonic %lld s, boottime %lld s", mono / NS, boot / NS);
	test_ready();
	test_waitsig();
	mono2 = clk(CLOCK_MONOTONIC);
	boot2 = clk(CLOCK_BOOTTIME);
	if (test_self_fail)
		mono2 = mono - NS;
	check("CLOCK_MONOTONIC", mono, mono2, 86400 * NS);
	check("CLOCK_BOOTTIME", boot, boot2, 172800 * NS);
	s = zt_read_file("/proc/uptime", NULL);
	if (!s || sscanf(s, "%lf", &up) != 1 || up < 172800.0)
		test_err("/proc/uptime is '%s', not the namespace's boot time", s ? s : "?");
	test_result();
}
