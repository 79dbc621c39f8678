/* A stopped task: a child that counts was stopped with SIGSTOP (the parent
 * saw the stop with WUNTRACED). After restore it is still stopped (state T) and
 * does not count; SIGCONT (reported with WCONTINUED) makes it count again. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

struct sync {
	int counter, quit;
};

static struct sync *s;

static char state_of(pid_t pid)
{
	char p[64], *buf, *c, st = '?';

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	buf = zt_read_file(p, NULL);
	if (buf && (c = strrchr(buf, ')')) && c[1] == ' ')
		st = c[2];
	free(buf);
	return st;
}

int main(int argc, char **argv)
{
	pid_t pid;
	int st, c0;

	test_init(argc, argv);
	s = zt_shared(sizeof(*s));
	pid = fork();
	if (pid < 0)
		fail("fork: %m");
	if (pid == 0) {
		while (!__atomic_load_n(&s->quit, __ATOMIC_SEQ_CST)) {
			zt_post(&s->counter, 1);
			usleep(1000);
		}
		_exit(0);
	}
	if (zt_wait_ge(&s->counter, 1, 30))
		fail("the child does not count");
	kill(pid, SIGSTOP);
	if (waitpid(pid, &st, WUNTRACED) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP)
		fail("the child did not stop (status %#x)", st);
	c0 = s->counter;

	test_ready();
	test_waitsig();
	if (test_self_fail)
		kill(pid, SIGCONT);

	if (state_of(pid) != 'T')
		test_err("the child's state is %c, want T (stopped)", state_of(pid));
	usleep(200 * 1000);
	if (s->counter != c0)
		test_err("the child counted while stopped (%d, was %d)", s->counter, c0);
	kill(pid, SIGCONT);
	if (zt_wait_ge(&s->counter, c0 + 3, 30))
		test_err("the child does not count after SIGCONT");
	if (!test_self_fail &&
	    (waitpid(pid, &st, WCONTINUED | WNOHANG) != pid || !WIFCONTINUED(st)))
		test_err("SIGCONT was not reported to the parent (WCONTINUED)");
	zt_post(&s->quit, 1);
	if (!zt_waitpid(pid, &st, 30, "child") && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		test_err("the child: status %#x", st);
	test_result();
}
