/* POSIX (fcntl) record locks: a write lock on [0,100), a read lock on
 * [200,300) and a write lock from 1000 to EOF on a file. After restore they are
 * held by this process (the same /proc/locks entries) and still block another
 * process: a helper forked then gets EAGAIN where they conflict, and gets the
 * lock elsewhere; once this process unlocks [0,100), the helper gets it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

static char path[600];

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static int lk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };

	return fcntl(fd, cmd, &fl);
}

/* in a new process (not the lock owner): which of the probes behave as the
 * locks say? Each failed probe sets a bit of the exit status. */
static int helper(pid_t owner, int first_unlocked)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		fail("fork: %m");
	if (pid == 0) {
		int fd = open(path, O_RDWR), r = 0;
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 50, .l_len = 1 };

		if (fd < 0)
			_exit(255);
		if (first_unlocked) {
			if (lk(fd, F_SETLK, F_WRLCK, 0, 100))
				r |= 1;
			_exit(r);
		}
		if (lk(fd, F_SETLK, F_WRLCK, 50, 1) != -1 || (errno != EAGAIN && errno != EACCES))
			r |= 1; /* [0,100) write-locked */
		if (fcntl(fd, F_GETLK, &fl) || fl.l_type != F_WRLCK || fl.l_pid != owner || fl.l_start != 0 ||
		    fl.l_len != 100)
			r |= 2; /* F_GETLK names the owner and the range */
		if (lk(fd, F_SETLK, F_RDLCK, 250, 1) || lk(fd, F_SETLK, F_UNLCK, 250, 1))
			r |= 4; /* a read lock shares [200,300) */
		if (lk(fd, F_SETLK, F_WRLCK, 250, 1) != -1)
			r |= 8; /* ... a write lock does not */
		if (lk(fd, F_SETLK, F_WRLCK, 500, 1) || lk(fd, F_SETLK, F_UNLCK, 500, 1))
			r |= 16; /* nothing at 500 */
		if (lk(fd, F_SETLK, F_WRLCK, 5000, 1) != -1)
			r |= 32; /* [1000,EOF) write-locked */
		_exit(r);
	}
	if (zt_waitpid(pid, &st, 30, "helper"))
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 254;
}

int main(int argc, char **argv)
{
	char before[2048], after[2048];
	struct stat st;
	int fd, r;

	test_init(argc, argv);
	snprintf(path, sizeof(path), "%s/posix.lock", test_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, 10000) || fstat(fd, &st))
		fail("open: %m");
	if (lk(fd, F_SETLK, F_WRLCK, 0, 100) || lk(fd, F_SETLK, F_RDLCK, 200, 100) ||
	    lk(fd, F_SETLK, F_WRLCK, 1000, 0))
		fail("F_SETLK: %m");
	zt_file_locks(st.st_ino, before, sizeof(before));
	if (count_lines(before) != 3)
		fail("/proc/locks does not show the 3 locks:\n%s", before);
	if ((r = helper(getpid(), 0)))
		fail("the locks do not work here (helper: %#x)", r);

	test_ready();
	test_waitsig();
	if (test_self_fail)
		lk(fd, F_SETLK, F_UNLCK, 0, 100);

	zt_file_locks(st.st_ino, after, sizeof(after));
	if (strcmp(before, after))
		test_err("/proc/locks for the file:\n%swas:\n%s", after, before);
	r = helper(getpid(), 0);
	if (r)
		test_err("another process is not blocked as before (helper: %#x: 1 [0,100), 2 F_GETLK, "
			 "4/8 [200,300), 16 free range, 32 [1000,EOF))", r);
	if (lk(fd, F_SETLK, F_UNLCK, 0, 100) || helper(getpid(), 1))
		test_err("unlocking [0,100) here does not let another process lock it");
	test_result();
}
