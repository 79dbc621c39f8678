/* [vsyscall]: where the kernel maps it, the mapping is the same after restore
 * (address, permissions, one of it), and calling vsyscall gettimeofday there
 * still works and agrees with the syscall. Without a [vsyscall] here the test
 * checks that none appeared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "ztest.h"

#define VSYSCALL_GTOD 0xffffffffff600000UL

/* the [vsyscall] lines of /proc/self/maps */
static void vsyscall_lines(char *out, size_t len)
{
	char *s = zt_read_file("/proc/self/maps", NULL), *l;

	out[0] = 0;
	for (l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		int n = strcspn(l, "\n");

		if (memmem(l, n, "[vsyscall]", 10))
			snprintf(out + strlen(out), len - strlen(out), "%.*s\n", n, l);
	}
	free(s);
}

/* gettimeofday through the vsyscall page, and through the syscall */
static int check_call(const char *when)
{
	int (*vgtod)(struct timeval *, struct timezone *) = (void *)VSYSCALL_GTOD;
	struct timeval a, b, c;

	syscall(SYS_gettimeofday, &a, NULL);
	if (vgtod(&b, NULL)) {
		test_err("%s: vsyscall gettimeofday failed", when);
		return -1;
	}
	syscall(SYS_gettimeofday, &c, NULL);
	if (timercmp(&b, &a, <) || timercmp(&b, &c, >)) {
		test_err("%s: vsyscall time %ld.%06ld is not between %ld.%06ld and %ld.%06ld", when,
			 (long)b.tv_sec, (long)b.tv_usec, (long)a.tv_sec, (long)a.tv_usec, (long)c.tv_sec,
			 (long)c.tv_usec);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char before[512], after[512];

	test_init(argc, argv);
	vsyscall_lines(before, sizeof(before));
	if (before[0] && check_call("before the checkpoint"))
		fail("vsyscall does not work here");
	test_msg("[vsyscall] here: %s", before[0] ? before : "none");

	test_ready();
	test_waitsig();
	if (test_self_fail)
		before[0] ^= 1; /* what was recorded */

	vsyscall_lines(after, sizeof(after));
	if (strcmp(before, after))
		test_err("[vsyscall] maps lines: '%s', were '%s'", after, before);
	if (after[0])
		check_call("after restore");
	test_result();
}
