/* A shared fd table: a child process made with clone(CLONE_FILES) (its own
 * memory, our fd table) and a thread. After restore kcmp(KCMP_FILES) says the
 * table is shared, an fd the child opens appears in the parent, and an fd the
 * parent closes is gone in the child. */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "ztest.h"

#define FD_CHILD 60  /* opened by the child after restore */
#define FD_PARENT 61 /* opened before, closed by the parent after restore */

struct sync {
	int child_up, go, opened, closed, checked;
};

static struct sync *s;
static char path[600];

static int child_fn(void *arg)
{
	int fd;

	(void)arg;
	test_child_reset();
	zt_post(&s->child_up, 1);
	if (zt_wait_ge(&s->go, 1, 3600))
		return 2;
	fd = open(path, O_RDONLY);
	if (fd < 0 || dup2(fd, FD_CHILD) != FD_CHILD)
		return 3;
	close(fd);
	zt_post(&s->opened, 1);
	if (zt_wait_ge(&s->closed, 1, 30))
		return 4;
	if (fcntl(FD_PARENT, F_GETFD) != -1)
		return 5; /* the parent's close did not reach this table */
	zt_post(&s->checked, 1);
	return 0;
}

static void *thread_fn(void *arg)
{
	(void)arg;
	zt_wait_ge(&s->checked, 1, 3600);
	return NULL;
}

int main(int argc, char **argv)
{
	static char stack[256 * 1024] __attribute__((aligned(16)));
	pthread_t th;
	pid_t pid;
	int fd, st;

	test_init(argc, argv);
	s = zt_shared(sizeof(*s));
	snprintf(path, sizeof(path), "%s/files.shared", test_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "shared", 6) != 6 || dup2(fd, FD_PARENT) != FD_PARENT)
		fail("open: %m");
	close(fd);
	pid = clone(child_fn, stack + sizeof(stack), CLONE_FILES | SIGCHLD, NULL);
	if (pid < 0)
		fail("clone: %m");
	if (pthread_create(&th, NULL, thread_fn, NULL))
		fail("pthread_create");
	if (zt_wait_ge(&s->child_up, 1, 30))
		fail("the child did not start");

	test_ready();
	test_waitsig();

	if (syscall(SYS_kcmp, getpid(), pid, KCMP_FILES, 0, 0) != 0)
		test_err("kcmp: the child's fd table is not the parent's any more");
	zt_post(&s->go, 1);
	if (zt_wait_ge(&s->opened, 1, 30))
		test_err("the child did not open its fd");
	if (test_self_fail)
		close(FD_CHILD);
	{
		char buf[8] = "";

		if (pread(FD_CHILD, buf, 6, 0) != 6 || memcmp(buf, "shared", 6))
			test_err("the fd the child opened is not in the parent's table");
	}
	close(FD_PARENT);
	zt_post(&s->closed, 1);
	if (!zt_waitpid(pid, &st, 30, "child") && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		test_err("the child: status %#x (2-5: its step that failed)", st);
	zt_join(th, 10, "thread");
	test_result();
}
