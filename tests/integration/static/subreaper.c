/* A child subreaper: the root set PR_SET_CHILD_SUBREAPER, its child forked a
 * grandchild. After restore the root is still a subreaper (the child is not),
 * and when the child exits the grandchild is reparented to the root, which
 * reaps it with its exit status. */
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

struct sync {
	int up;
	pid_t gc;
};

static struct sync *s;

int main(int argc, char **argv)
{
	pid_t root = getpid(), mid;
	int st, v = -1;

	test_init(argc, argv);
	s = zt_shared(sizeof(*s));
	if (prctl(PR_SET_CHILD_SUBREAPER, 1))
		fail("PR_SET_CHILD_SUBREAPER: %m");
	mid = fork();
	if (mid < 0)
		fail("fork: %m");
	if (mid == 0) {
		pid_t gc;

		test_child_reset();
		gc = fork();
		if (gc < 0)
			_exit(2);
		if (gc == 0) {
			/* wait to be reparented to the root (at most 60 s) */
			for (int i = 0; i < 60000 && getppid() != root; i++)
				usleep(1000);
			_exit(getppid() == root ? 42 : 43);
		}
		s->gc = gc;
		zt_post(&s->up, 1);
		test_waitsig();
		if (prctl(PR_GET_CHILD_SUBREAPER, &v) || v != 0)
			_exit(3); /* it is not a subreaper itself */
		_exit(0);
	}
	if (zt_wait_ge(&s->up, 1, 30))
		fail("the child did not start");

	test_ready();
	test_waitsig();
	if (test_self_fail)
		prctl(PR_SET_CHILD_SUBREAPER, 0);

	if (prctl(PR_GET_CHILD_SUBREAPER, &v) || v != 1)
		test_err("PR_GET_CHILD_SUBREAPER is %d, want 1", v);
	kill(mid, SIGTERM);
	if (!zt_waitpid(mid, &st, 30, "child") && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		test_err("the child: status %#x (3: it is a subreaper too)", st);
	/* the orphan is ours now */
	if (!zt_waitpid(s->gc, &st, 60, "the orphaned grandchild") &&
	    !(WIFEXITED(st) && WEXITSTATUS(st) == 42))
		test_err("the grandchild: status %#x, want exit 42", st);
	test_result();
}
