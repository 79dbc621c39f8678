/* OFD (open file description) locks: a write lock on [0,100) through one
 * open of a file (also reachable through a dup), a read lock on [200,300)
 * through a second open. After restore they are the same /proc/locks entries
 * (OFDLCK), they conflict with a new open in this very process (as OFD locks
 * do, unlike POSIX ones) and with another process; unlocking through the dup
 * releases [0,100). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

static char path[600];

static int lk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };

	return fcntl(fd, cmd, &fl);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* probes through a new open description; a bit per probe that failed */
static int probe(void)
{
	int fd = open(path, O_RDWR), r = 0;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 50, .l_len = 1 };

	if (fd < 0)
		return 255;
	if (lk(fd, F_OFD_SETLK, F_WRLCK, 50, 1) != -1 || errno != EAGAIN)
		r |= 1; /* [0,100) write-locked */
	if (fcntl(fd, F_OFD_GETLK, &fl) || fl.l_type != F_WRLCK || fl.l_pid != -1 || fl.l_start != 0 ||
	    fl.l_len != 100)
		r |= 2; /* an OFD lock on [0,100) */
	if (lk(fd, F_OFD_SETLK, F_RDLCK, 250, 1) || lk(fd, F_OFD_SETLK, F_UNLCK, 250, 1))
		r |= 4; /* read-shared [200,300) */
	if (lk(fd, F_OFD_SETLK, F_WRLCK, 250, 1) != -1)
		r |= 8;
	if (lk(fd, F_OFD_SETLK, F_WRLCK, 500, 1) || lk(fd, F_OFD_SETLK, F_UNLCK, 500, 1))
		r |= 16; /* nothing at 500 */
	close(fd);
	return r;
}

/* the probes from another process */
static int probe_elsewhere(void)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		fail("fork: %m");
	if (pid == 0)
		_exit(probe());
	if (zt_waitpid(pid, &st, 30, "helper"))
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 254;
}

int main(int argc, char **argv)
{
	char before[2048], after[2048];
	struct stat st;
	int w, w2, rd, r;

	test_init(argc, argv);
	snprintf(path, sizeof(path), "%s/ofd.lock", test_tmpdir());
	w = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	rd = open(path, O_RDONLY);
	if (w < 0 || rd < 0 || ftruncate(w, 10000) || fstat(w, &st) || (w2 = dup(w)) < 0)
		fail("open: %m");
	if (lk(w, F_OFD_SETLK, F_WRLCK, 0, 100) || lk(rd, F_OFD_SETLK, F_RDLCK, 200, 100))
		fail("F_OFD_SETLK: %m");
	zt_file_locks(st.st_ino, before, sizeof(before));
	if (count_lines(before) != 2 || !strstr(before, "OFDLCK"))
		fail("/proc/locks does not show the 2 OFD locks:\n%s", before);
	if ((r = probe()) || (r = probe_elsewhere()))
		fail("the locks do not work here (%#x)", r);

	test_ready();
	test_waitsig();
	if (test_self_fail)
		lk(rd, F_OFD_SETLK, F_UNLCK, 200, 100);

	zt_file_locks(st.st_ino, after, sizeof(after));
	if (strcmp(before, after))
		test_err("/proc/locks for the file:\n%swas:\n%s", after, before);
	if ((r = probe()))
		test_err("a new open in this process is not blocked as before (%#x: 1 [0,100), "
			 "2 F_OFD_GETLK, 4/8 [200,300), 16 free range)", r);
	if ((r = probe_elsewhere()))
		test_err("another process is not blocked as before (%#x)", r);
	/* the lock belongs to the description: unlocking through the dup frees it */
	if (lk(w2, F_OFD_SETLK, F_UNLCK, 0, 100) || (probe() & 1) == 0)
		test_err("unlocking through the dup did not free [0,100)");
	test_result();
}
