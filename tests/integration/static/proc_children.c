/* A task holding /proc files of its own children: /proc/C1/status open, and
 * /proc/C2/fd open as a directory. After restore they still refer to those
 * children (Pid and PPid lines; C2's fd set listed through the directory),
 * and once C1 is reaped its status fd reads ESRCH (it was bound to C1). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

static void fdset(int dirfd, char *out, size_t len)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int list[64], n = 0;

	out[0] = 0;
	if (!d) {
		snprintf(out, len, "(can't list: %s)", strerror(errno));
		return;
	}
	while ((de = readdir(d)) && n < 64)
		if (de->d_name[0] != '.')
			list[n++] = atoi(de->d_name);
	closedir(d);
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && list[j - 1] > list[j]; j--) {
			int t = list[j];
			list[j] = list[j - 1];
			list[j - 1] = t;
		}
	for (int i = 0; i < n; i++)
		snprintf(out + strlen(out), len - strlen(out), "%d ", list[i]);
}

static int status_says(int fd, pid_t pid, pid_t ppid)
{
	char buf[4096], want[64];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = 0;
	snprintf(want, sizeof(want), "\nPid:\t%d\n", (int)pid);
	if (!strstr(buf, want))
		return 0;
	snprintf(want, sizeof(want), "\nPPid:\t%d\n", (int)ppid);
	return strstr(buf, want) != NULL;
}

int main(int argc, char **argv)
{
	pid_t kids[2];
	int status_fd, fd_dir, st;
	char p[64], before[256] = "", after[256];

	test_init(argc, argv);
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			fail("fork: %m");
		if (kids[i] == 0) {
			test_child_reset();
			if (i == 1 && (dup2(2, 100) != 100 || dup2(2, 101) != 101))
				_exit(1);
			test_waitsig();
			_exit(0);
		}
	}
	snprintf(p, sizeof(p), "/proc/%d/status", (int)kids[0]);
	status_fd = open(p, O_RDONLY);
	snprintf(p, sizeof(p), "/proc/%d/fd", (int)kids[1]);
	fd_dir = open(p, O_RDONLY | O_DIRECTORY);
	if (status_fd < 0 || fd_dir < 0)
		fail("open /proc files: %m");
	/* C2's two extra fds are there once it has set up */
	for (int i = 0; i < 30000 && !strstr(before, "101 "); i++) {
		fdset(fd_dir, before, sizeof(before));
		if (!strstr(before, "101 "))
			usleep(1000);
	}
	if (!status_says(status_fd, kids[0], getpid()) || !strstr(before, "100 101 "))
		fail("the /proc files do not show the children (%s)", before);

	test_ready();
	test_waitsig();
	if (test_self_fail) {
		int fd = open("/proc/self/status", O_RDONLY);

		if (fd < 0 || dup2(fd, status_fd) != status_fd)
			test_err("self-test: %m");
		close(fd);
	}

	if (!status_says(status_fd, kids[0], getpid()))
		test_err("the status fd does not show child 1 (pid %d, ppid %d)", kids[0], getpid());
	fdset(fd_dir, after, sizeof(after));
	if (strcmp(before, after))
		test_err("child 2's fds through the directory fd: [%s], were [%s]", after, before);
	for (int i = 0; i < 2; i++) {
		kill(kids[i], SIGTERM);
		if (!zt_waitpid(kids[i], &st, 30, "child") && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
			test_err("child %d: status %#x", i + 1, st);
	}
	{
		char buf[64];

		if (pread(status_fd, buf, sizeof(buf), 0) != -1 || errno != ESRCH)
			test_err("the status fd of the reaped child 1 does not give ESRCH (%m): it is not "
				 "bound to that child");
	}
	test_result();
}
