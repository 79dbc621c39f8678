/* A cwd that is a deleted directory. After restore the cwd is still that
 * directory, deleted: /proc/self/cwd reads "PATH (deleted)", getcwd() fails
 * with ENOENT, nothing can be created in it, and PATH does not exist. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ztest.h"

static void cwd_link(char *out, size_t len)
{
	ssize_t n = readlink("/proc/self/cwd", out, len - 1);

	out[n > 0 ? n : 0] = 0;
}

int main(int argc, char **argv)
{
	char dir[600], before[700], after[700], buf[700];
	struct stat st;

	test_init(argc, argv);
	snprintf(dir, sizeof(dir), "%s/cwd.gone", test_tmpdir());
	if (mkdir(dir, 0750) || chdir(dir) || rmdir(dir))
		fail("mkdir/chdir/rmdir %s: %m", dir);
	cwd_link(before, sizeof(before));

	test_ready();
	test_waitsig();
	if (test_self_fail && chdir(test_tmpdir()))
		test_err("self-test chdir: %m");

	cwd_link(after, sizeof(after));
	if (strcmp(after, before))
		test_err("cwd '%s', was '%s'", after, before);
	if (getcwd(buf, sizeof(buf)) || errno != ENOENT)
		test_err("getcwd did not fail with ENOENT (%m)");
	if (stat(".", &st) || !S_ISDIR(st.st_mode) || st.st_nlink != 0 || (st.st_mode & 07777) != 0750)
		test_err("'.' is not a deleted 0750 directory (nlink %lu mode %o)", (unsigned long)st.st_nlink,
			 st.st_mode & 07777);
	if (open("new", O_WRONLY | O_CREAT, 0644) != -1 || errno != ENOENT)
		test_err("a file could be created in the deleted cwd (%m)");
	if (access(dir, F_OK) == 0)
		test_err("%s exists (left behind by the restore?)", dir);
	test_result();
}
