/* PR_SET_PDEATHSIG: the root's child forks a grandchild that asks for SIGUSR1
 * when its parent dies. After restore the grandchild still has it
 * (PR_GET_PDEATHSIG), and when its parent exits it gets SIGUSR1 (its handler
 * reports through shared memory). */
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

struct sync {
	int up, verify, checked, got, done, result;
	pid_t mid;
};

static struct sync *s;

static void on_usr1(int sig)
{
	(void)sig;
	zt_post(&s->got, 1);
}

static void grandchild(void)
{
	int sig = 0;

	signal(SIGUSR1, on_usr1);
	if (prctl(PR_SET_PDEATHSIG, SIGUSR1))
		_exit(1);
	zt_post(&s->up, 1);
	if (zt_wait_ge(&s->verify, 1, 3600))
		_exit(1);
	if (test_self_fail)
		prctl(PR_SET_PDEATHSIG, 0);
	if (prctl(PR_GET_PDEATHSIG, &sig) || sig != SIGUSR1)
		s->result |= 1;
	if (getppid() != s->mid)
		s->result |= 2;
	zt_post(&s->checked, 1);
	/* the parent exits now: SIGUSR1 */
	if (zt_wait_ge(&s->got, 1, test_self_fail ? 3 : 30))
		s->result |= 4;
	zt_post(&s->done, 1);
	_exit(0);
}

int main(int argc, char **argv)
{
	pid_t mid;
	int st;

	test_init(argc, argv);
	s = zt_shared(sizeof(*s));
	mid = fork();
	if (mid < 0)
		fail("fork: %m");
	if (mid == 0) {
		pid_t gc;

		test_child_reset();
		s->mid = getpid();
		gc = fork();
		if (gc < 0)
			_exit(2);
		if (gc == 0)
			grandchild();
		test_waitsig();
		_exit(0); /* the grandchild's parent dies */
	}
	if (zt_wait_ge(&s->up, 1, 30))
		fail("the grandchild did not start");

	test_ready();
	test_waitsig();

	zt_post(&s->verify, 1);
	if (zt_wait_ge(&s->checked, 1, 30))
		test_err("the grandchild did not check its setting");
	kill(mid, SIGTERM);
	if (!zt_waitpid(mid, &st, 30, "child") && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		test_err("the child: status %#x", st);
	if (zt_wait_ge(&s->done, 1, 60))
		test_err("the grandchild did not finish");
	if (s->result & 1)
		test_err("the grandchild's PR_GET_PDEATHSIG is not SIGUSR1");
	if (s->result & 2)
		test_err("the grandchild's parent is not the child any more");
	if (s->result & 4)
		test_err("the grandchild got no SIGUSR1 when its parent exited");
	test_result();
}
