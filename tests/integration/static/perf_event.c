/* A perf event (software task-clock of this task, counting) held at fd 78:
 * not something criu-lite carries, so the dump must fail naming fd 78 and
 * what it is, and leave the counter counting. */
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ztest.h"

#define FD_PERF 78

static uint64_t count(void)
{
	uint64_t v = 0;

	if (read(FD_PERF, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* run on the CPU for a while */
static void spin(void)
{
	struct timespec a, b;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	do
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + b.tv_nsec - a.tv_nsec < 20000000L);
}

int main(int argc, char **argv)
{
	struct perf_event_attr a;
	uint64_t c0, c1, c2;
	int fd;

	test_init(argc, argv);
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_TASK_CLOCK;
	fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
	if (fd < 0 || dup2(fd, FD_PERF) != FD_PERF)
		fail("perf_event_open: %m");
	close(fd);
	spin();
	c0 = count();
	if (!c0)
		fail("the task clock does not count");

	test_ready();
	test_waitsig();
	if (test_self_fail)
		ioctl(FD_PERF, PERF_EVENT_IOC_DISABLE, 0);

	c1 = count();
	spin();
	c2 = count();
	if (c1 < c0 || c2 < c1 + 10000000)
		test_err("task clock %llu, then %llu after 20 ms of CPU (was %llu): not counting",
			 (unsigned long long)c1, (unsigned long long)c2, (unsigned long long)c0);
	test_result();
}
