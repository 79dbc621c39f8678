/*
 * A container with its own cgroup namespace (nsrun --ns pid,mnt,cgroup): it sees its
 * cgroups as the roots of their hierarchies. After the restore it still does (the
 * restored namespace is rooted where the restoring process is).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ztest.h"

static int all_roots(const char *s)
{
	const char *l = s;
	while (l && *l) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);
		if (n < 2 || l[n - 1] != '/' || l[n - 2] != ':')
			return 0;
		l = nl ? nl + 1 : NULL;
	}
	return 1;
}

int main(int argc, char **argv)
{
	char *before, *after;

	test_init(argc, argv);
	before = zt_read_file("/proc/self/cgroup", NULL);
	if (!before || !all_roots(before))
		fail("not at the roots of a cgroup namespace:\n%s", before ? before : "?");
	test_ready();
	test_waitsig();
	after = zt_read_file("/proc/self/cgroup", NULL);
	if (test_self_fail && after)
		after[0] ^= 1;
	if (!after || strcmp(before, after))
		test_err("/proc/self/cgroup is\n%s\nit was\n%s", after ? after : "?", before);
	test_result();
}
