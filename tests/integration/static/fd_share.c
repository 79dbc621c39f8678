/* Shared open file descriptions: a file opened once, dup'ed, and inherited by
 * a forked child (one offset and one set of status flags for the four fds),
 * an O_APPEND file inherited by the child, and the same file opened a second
 * time (its own offset). After restore kcmp(KCMP_FILE) shows the same sharing,
 * an lseek() in the child moves the parent's offset, F_SETFL in one is seen by
 * the other, FD_CLOEXEC stays per fd. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "ztest.h"

#define FD_A 50   /* O_RDWR, offset 1000 */
#define FD_B 51   /* dup of FD_A, FD_CLOEXEC */
#define FD_C 52   /* the same file opened again, offset 777 */
#define FD_APP 53 /* O_WRONLY|O_APPEND */

struct sync {
	int child_ok;  /* child checked the sharing before the checkpoint */
	int go;        /* parent -> child: check now */
	int step;      /* child's steps after restore */
	int parent_step;
};

static struct sync *s;
static char path[600], apath[600];

static long kcmp_file(pid_t a, pid_t b, int fa, int fb)
{
	return syscall(SYS_kcmp, a, b, KCMP_FILE, fa, fb);
}

static void move(int fd, int to)
{
	if (fd < 0 || dup2(fd, to) != to)
		fail("open/dup2: %m");
	if (fd != to)
		close(fd);
}

static void child(void)
{
	test_child_reset();
	zt_post(&s->child_ok, 1);
	if (zt_wait_ge(&s->go, 1, 3600))
		test_err("child: no go");
	/* an lseek here is the parent's too */
	if (lseek(FD_A, 4000, SEEK_SET) != 4000)
		test_err("child: lseek: %m");
	zt_post(&s->step, 1);
	/* the parent set O_NONBLOCK through FD_B */
	if (zt_wait_ge(&s->parent_step, 1, 30) || !(fcntl(FD_A, F_GETFL) & O_NONBLOCK))
		test_err("child: O_NONBLOCK set by the parent not seen");
	if (write(FD_APP, "child\n", 6) != 6)
		test_err("child: write: %m");
	if (fcntl(FD_A, F_GETFD) != 0 || fcntl(FD_B, F_GETFD) != FD_CLOEXEC)
		test_err("child: FD_CLOEXEC of FD_A/FD_B is %d/%d", fcntl(FD_A, F_GETFD),
			 fcntl(FD_B, F_GETFD));
	zt_post(&s->step, 1);
	test_child_exit();
}

int main(int argc, char **argv)
{
	static char buf[8192];
	pid_t pid, me;
	int st;

	test_init(argc, argv);
	s = zt_shared(sizeof(*s));
	snprintf(path, sizeof(path), "%s/shared.file", test_tmpdir());
	snprintf(apath, sizeof(apath), "%s/append.file", test_tmpdir());
	move(open(path, O_RDWR | O_CREAT | O_TRUNC, 0644), FD_A);
	zt_fill(buf, sizeof(buf), 0x5ad);
	if (write(FD_A, buf, sizeof(buf)) != sizeof(buf))
		fail("write: %m");
	lseek(FD_A, 1000, SEEK_SET);
	if (dup2(FD_A, FD_B) != FD_B || fcntl(FD_B, F_SETFD, FD_CLOEXEC))
		fail("dup2: %m");
	move(open(path, O_RDONLY), FD_C);
	lseek(FD_C, 777, SEEK_SET);
	move(open(apath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644), FD_APP);
	if (write(FD_APP, "start\n", 6) != 6)
		fail("write: %m");

	pid = fork();
	if (pid < 0)
		fail("fork: %m");
	if (pid == 0)
		child();
	if (zt_wait_ge(&s->child_ok, 1, 30))
		fail("the child did not start");

	test_ready();
	test_waitsig();
	if (test_self_fail)
		move(open(path, O_RDWR), FD_B); /* FD_B: a description of its own */

	me = getpid();
	if (kcmp_file(me, me, FD_A, FD_B) || kcmp_file(me, pid, FD_A, FD_A) || kcmp_file(me, pid, FD_B, FD_B) ||
	    kcmp_file(me, pid, FD_APP, FD_APP))
		test_err("kcmp: the dup'ed and inherited fds are not one description any more");
	if (kcmp_file(me, me, FD_A, FD_C) == 0)
		test_err("kcmp: the file opened twice is one description now");
	if (lseek(FD_B, 0, SEEK_CUR) != 1000 || lseek(FD_C, 0, SEEK_CUR) != 777)
		test_err("offsets %lld and %lld, were 1000 and 777", (long long)lseek(FD_B, 0, SEEK_CUR),
			 (long long)lseek(FD_C, 0, SEEK_CUR));
	zt_post(&s->go, 1);
	if (zt_wait_ge(&s->step, 1, 30))
		test_err("the child did not lseek");
	if (lseek(FD_B, 0, SEEK_CUR) != 4000)
		test_err("the child's lseek did not move the parent's offset (%lld)",
			 (long long)lseek(FD_B, 0, SEEK_CUR));
	if (lseek(FD_C, 0, SEEK_CUR) != 777)
		test_err("the child's lseek moved the other description");
	fcntl(FD_B, F_SETFL, fcntl(FD_B, F_GETFL) | O_NONBLOCK);
	zt_post(&s->parent_step, 1);
	if (zt_wait_ge(&s->step, 2, 30))
		test_err("the child did not write");
	if (write(FD_APP, "parent\n", 7) != 7 || lseek(FD_APP, 0, SEEK_CUR) != 19)
		test_err("the O_APPEND file: offset %lld after three appends, want 19",
			 (long long)lseek(FD_APP, 0, SEEK_CUR));
	if (fcntl(FD_C, F_GETFL) & O_NONBLOCK)
		test_err("O_NONBLOCK leaked to the other description");
	if (!zt_waitpid(pid, &st, 30, "child") && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		test_err("the child's own checks failed (status %#x)", st);
	{
		int fd = open(apath, O_RDONLY);

		memset(buf, 0, sizeof(buf));
		if (fd < 0 || read(fd, buf, sizeof(buf)) != 19 || strcmp(buf, "start\nchild\nparent\n"))
			test_err("the O_APPEND file holds '%s'", buf);
		if (fd >= 0)
			close(fd);
	}
	test_result();
}
