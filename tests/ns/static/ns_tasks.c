/*
 * The init of its own pid namespace with the task states of issue 9 inside it: a
 * zombie child (exited with 7, not reaped), a child whose thread-group leader exited
 * while a thread runs on, and a child stopped by SIGSTOP. After the restore, each
 * at its pid in the namespace: the zombie is reapable with its status, the stopped
 * child is stopped until SIGCONT, the leaderless child's thread still counts, with
 * its leader a zombie thread.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

struct shared {
	int ready;       /* children set up */
	int go;          /* the init says: verify */
	int counter;     /* the leaderless child's thread counts */
	int leader_ok;   /* its check: 1 good, 2 bad */
	int cont;        /* the stopped child ran on after SIGCONT */
};

static struct shared *sh;

static char state_of(pid_t pid, pid_t tid)
{
	char p[64], *s, *c, st = '?';

	snprintf(p, sizeof(p), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	s = zt_read_file(p, NULL);
	if (s && (c = strrchr(s, ')')) && c[1] == ' ')
		st = c[2];
	free(s);
	return st;
}

static pid_t leader_pid;

static void *count_fn(void *arg)
{
	int c0, ok = 1;

	(void)arg;
	for (int i = 0; i < 30000 && state_of(leader_pid, leader_pid) != 'Z'; i++)
		usleep(1000);
	zt_post(&sh->ready, 1);
	while (!__atomic_load_n(&sh->go, __ATOMIC_SEQ_CST)) {
		zt_post(&sh->counter, 1);
		usleep(1000);
	}
	if (getpid() != leader_pid || state_of(leader_pid, leader_pid) != 'Z') {
		test_msg("leaderless child: pid %d (was %d), leader state %c\n", getpid(), leader_pid,
			 state_of(leader_pid, leader_pid));
		ok = 0;
	}
	c0 = __atomic_load_n(&sh->counter, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 10; i++) {
		zt_post(&sh->counter, 1);
		usleep(1000);
	}
	if (__atomic_load_n(&sh->counter, __ATOMIC_SEQ_CST) < c0 + 10)
		ok = 0;
	zt_post(&sh->leader_ok, ok ? 1 : 2);
	exit(0); /* exit_group from the thread */
}

static void leaderless_child(void)
{
	pthread_t th;

	leader_pid = getpid();
	if (pthread_create(&th, NULL, count_fn, NULL))
		_exit(3);
	pthread_exit(NULL);
}

int main(int argc, char **argv)
{
	pid_t z, l, s;
	siginfo_t si;
	int st;

	test_init(argc, argv);
	sh = zt_shared(sizeof(*sh));
	if (getpid() != 1)
		fail("not the init of a pid namespace (pid %d)", getpid());
	z = fork();
	if (z == 0)
		_exit(7);
	l = fork();
	if (l == 0)
		leaderless_child();
	s = fork();
	if (s == 0) {
		raise(SIGSTOP);
		zt_post(&sh->cont, 1);
		_exit(0);
	}
	if (zt_wait_ge(&sh->ready, 1, 30) < 0)
		fail("the leaderless child is not ready");
	for (int i = 0; i < 30000 && (state_of(z, z) != 'Z' || state_of(s, s) != 'T'); i++)
		usleep(1000);
	if (state_of(z, z) != 'Z' || state_of(s, s) != 'T')
		fail("children not in place: zombie %c, stopped %c", state_of(z, z), state_of(s, s));
	test_ready();
	test_waitsig();

	if (getpid() != 1)
		test_err("the init is pid %d after restore", getpid());
	/* the zombie: still there, with its status */
	if (state_of(z, z) != 'Z')
		test_err("pid %d: state %c, want Z", z, state_of(z, z));
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, z, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid != z || si.si_code != CLD_EXITED ||
	    si.si_status != 7)
		test_err("zombie %d: waitid gives pid %d code %d status %d, want exited 7", z, si.si_pid, si.si_code,
			 si.si_status);
	/* the stopped child: stopped until continued */
	if (state_of(s, s) != 'T')
		test_err("pid %d: state %c, want T (stopped)", s, state_of(s, s));
	if (test_self_fail)
		sh->leader_ok = 2; /* as if the leaderless child saw itself wrong */
	kill(s, SIGCONT);
	if (zt_wait_ge(&sh->cont, 1, 10) < 0)
		test_err("the stopped child did not run on after SIGCONT");
	/* the leaderless child */
	zt_post(&sh->go, 1);
	if (zt_wait_ge(&sh->leader_ok, 1, 10) < 0 || sh->leader_ok != 1)
		test_err("the leaderless child's check failed (%d)", sh->leader_ok);
	if (zt_waitpid(z, &st, 10, "the zombie") == 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 7))
		test_err("zombie ended with 0x%x", st);
	if (zt_waitpid(s, &st, 10, "the stopped child") == 0 && (!WIFEXITED(st) || WEXITSTATUS(st)))
		test_err("stopped child ended with 0x%x", st);
	if (zt_waitpid(l, &st, 10, "the leaderless child") == 0 && (!WIFEXITED(st) || WEXITSTATUS(st)))
		test_err("leaderless child ended with 0x%x", st);
	test_result();
}
