/* flock() locks: LOCK_EX on one file through a description shared with a
 * forked child, LOCK_SH on another. After restore they are the same
 * /proc/locks entries, another process still gets EWOULDBLOCK where they
 * conflict (and a shared lock where it can), and once the child, through the
 * shared description, unlocks, the other process gets the lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

struct sync {
	int up, unlock, unlocked;
};

static struct sync *s;
static char p_ex[600], p_sh[600];

static int count_lines(const char *str)
{
	int n = 0;

	for (; *str; str++)
		n += *str == '\n';
	return n;
}

/* another process: a bit per probe that failed */
static int helper(int ex_free)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		fail("fork: %m");
	if (pid == 0) {
		int a = open(p_ex, O_RDONLY), b = open(p_sh, O_RDONLY), r = 0;

		if (a < 0 || b < 0)
			_exit(255);
		if (ex_free)
			_exit(flock(a, LOCK_EX | LOCK_NB) ? 1 : 0);
		if (flock(a, LOCK_SH | LOCK_NB) != -1 || errno != EWOULDBLOCK)
			r |= 1; /* LOCK_EX held on p_ex */
		if (flock(b, LOCK_SH | LOCK_NB) || flock(b, LOCK_UN))
			r |= 2; /* LOCK_SH on p_sh is shared */
		if (flock(b, LOCK_EX | LOCK_NB) != -1 || errno != EWOULDBLOCK)
			r |= 4; /* ... but not exclusive */
		_exit(r);
	}
	if (zt_waitpid(pid, &st, 30, "helper"))
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 254;
}

int main(int argc, char **argv)
{
	char before[2048], after[2048], b_sh[2048], a_sh[2048];
	struct stat st_ex, st_sh;
	int ex, sh, r, status;
	pid_t child;

	test_init(argc, argv);
	s = zt_shared(sizeof(*s));
	snprintf(p_ex, sizeof(p_ex), "%s/flock.ex", test_tmpdir());
	snprintf(p_sh, sizeof(p_sh), "%s/flock.sh", test_tmpdir());
	ex = open(p_ex, O_RDWR | O_CREAT | O_TRUNC, 0644);
	sh = open(p_sh, O_RDONLY | O_CREAT | O_TRUNC, 0644);
	if (ex < 0 || sh < 0 || fstat(ex, &st_ex) || fstat(sh, &st_sh))
		fail("open: %m");
	if (flock(ex, LOCK_EX | LOCK_NB) || flock(sh, LOCK_SH | LOCK_NB))
		fail("flock: %m");
	child = fork();
	if (child < 0)
		fail("fork: %m");
	if (child == 0) {
		/* holds ex's description (and so its lock) too */
		test_child_reset();
		zt_post(&s->up, 1);
		if (zt_wait_ge(&s->unlock, 1, 3600) || flock(ex, LOCK_UN))
			_exit(1);
		zt_post(&s->unlocked, 1);
		_exit(0);
	}
	if (zt_wait_ge(&s->up, 1, 30))
		fail("the child did not start");
	zt_file_locks(st_ex.st_ino, before, sizeof(before));
	zt_file_locks(st_sh.st_ino, b_sh, sizeof(b_sh));
	if (count_lines(before) != 1 || count_lines(b_sh) != 1 || !strstr(before, "FLOCK"))
		fail("/proc/locks does not show the 2 flock locks:\n%s%s", before, b_sh);
	if ((r = helper(0)))
		fail("the locks do not work here (%#x)", r);

	test_ready();
	test_waitsig();
	if (test_self_fail)
		flock(sh, LOCK_UN);

	zt_file_locks(st_ex.st_ino, after, sizeof(after));
	zt_file_locks(st_sh.st_ino, a_sh, sizeof(a_sh));
	if (strcmp(before, after) || strcmp(b_sh, a_sh))
		test_err("/proc/locks for the files:\n%s%swere:\n%s%s", after, a_sh, before, b_sh);
	if ((r = helper(0)))
		test_err("another process is not blocked as before (%#x: 1 LOCK_EX, 2/4 LOCK_SH)", r);
	/* the child unlocks through the description it shares with us */
	zt_post(&s->unlock, 1);
	if (zt_wait_ge(&s->unlocked, 1, 30) || helper(1))
		test_err("the child's LOCK_UN on the shared description did not free the lock");
	if (!zt_waitpid(child, &status, 30, "child") && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		test_err("the child: status %#x", status);
	test_result();
}
