/* vDSO: clock_gettime (through the vDSO) works and is monotonic across the
 * restore, agrees with the raw system call (a vvar page left behind would
 * freeze or skew it), time()/gettimeofday() too, and [vdso]/[vvar] are where
 * they were (glibc keeps pointers into the vDSO). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ztest.h"

static char vdso_before[256], vvar_before[256];

static void find(const char *name, char *out, size_t len)
{
	char *maps = zt_read_file("/proc/self/maps", NULL), *line, *save = NULL;

	out[0] = 0;
	if (!maps)
		return;
	for (line = strtok_r(maps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t l = strlen(line), n = strlen(name);

		if (l >= n && !strcmp(line + l - n, name)) {
			/* keep "start-end perms" only */
			char *sp = strchr(line, ' ');

			snprintf(out, len, "%.*s", sp ? (int)(sp - line + 5) : (int)l, line);
			break;
		}
	}
	free(maps);
}

static double ts(const struct timespec *t)
{
	return t->tv_sec + t->tv_nsec / 1e9;
}

static void compare(clockid_t clk, const char *name)
{
	struct timespec v1, s, v2;

	clock_gettime(clk, &v1);
	syscall(SYS_clock_gettime, clk, &s);
	clock_gettime(clk, &v2);
	if (ts(&v1) > ts(&s) + 1e-3 || ts(&s) > ts(&v2) + 1e-3)
		test_err("%s: vDSO %.6f / syscall %.6f / vDSO %.6f disagree", name, ts(&v1), ts(&s),
			 ts(&v2));
}

int main(int argc, char **argv)
{
	struct timespec m0, m1, prev, now, r0;
	unsigned long ehdr0;
	char buf[256];

	test_init(argc, argv);
	ehdr0 = getauxval(AT_SYSINFO_EHDR);
	clock_gettime(CLOCK_MONOTONIC, &m0);
	clock_gettime(CLOCK_REALTIME, &r0);
	find("[vdso]", vdso_before, sizeof(vdso_before));
	find("[vvar]", vvar_before, sizeof(vvar_before));
	if (!vdso_before[0])
		fail("no [vdso] in maps");

	test_ready();
	test_waitsig();

	clock_gettime(CLOCK_MONOTONIC, &m1);
	if (test_self_fail)
		m1.tv_sec -= 100000;
	if (ts(&m1) < ts(&m0))
		test_err("CLOCK_MONOTONIC went back: %.6f -> %.6f", ts(&m0), ts(&m1));
	prev = m1;
	for (int i = 0; i < 200000; i++) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (ts(&now) < ts(&prev)) {
			test_err("CLOCK_MONOTONIC not monotonic: %.9f -> %.9f", ts(&prev), ts(&now));
			break;
		}
		prev = now;
	}
	/* the clock moves: 20 ms of nanosleep show as ~20 ms */
	clock_gettime(CLOCK_MONOTONIC, &m0);
	usleep(20000);
	clock_gettime(CLOCK_MONOTONIC, &m1);
	if (ts(&m1) - ts(&m0) < 0.019 || ts(&m1) - ts(&m0) > 2)
		test_err("20 ms sleep measured as %.6f s", ts(&m1) - ts(&m0));
	compare(CLOCK_MONOTONIC, "CLOCK_MONOTONIC");
	compare(CLOCK_REALTIME, "CLOCK_REALTIME");
	compare(CLOCK_BOOTTIME, "CLOCK_BOOTTIME");
	clock_gettime(CLOCK_REALTIME, &now);
	if (ts(&now) < ts(&r0))
		test_err("CLOCK_REALTIME went back");
	{
		struct timeval tv;
		time_t t = time(NULL);

		gettimeofday(&tv, NULL);
		if (tv.tv_sec < r0.tv_sec || t < r0.tv_sec || tv.tv_sec - t > 1)
			test_err("gettimeofday %ld / time %ld / before %ld", (long)tv.tv_sec, (long)t,
				 (long)r0.tv_sec);
	}
	if (getauxval(AT_SYSINFO_EHDR) != ehdr0)
		test_err("AT_SYSINFO_EHDR changed");
	find("[vdso]", buf, sizeof(buf));
	if (strcmp(buf, vdso_before))
		test_err("[vdso] moved: '%s', was '%s'", buf, vdso_before);
	if (strtoul(vdso_before, NULL, 16) != ehdr0)
		test_err("[vdso] is not at AT_SYSINFO_EHDR %#lx", ehdr0);
	find("[vvar]", buf, sizeof(buf));
	if (strcmp(buf, vvar_before))
		test_err("[vvar] moved: '%s', was '%s'", buf, vvar_before);
	test_result();
}
