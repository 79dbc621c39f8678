/*
 * The init of its own pid namespace (nsrun --ns pid,mnt,...): two children, one with
 * a child of its own and one leading its own process group, and a thread. After the
 * restore every task must have its pid again in the namespace, the init being 1,
 * its parents, session and groups; the namespace's /proc lists exactly these tasks;
 * the monotonic clock continues from where it was (no jump back, none ahead).
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ztest.h"

struct shared {
	int go;          /* the init says: verify */
	int ready;       /* tasks set up */
	int done;
	pid_t pid[4], ppid[4], pgid[4], sid[4];
	pid_t seen_pid[4], seen_ppid[4], seen_pgid[4], seen_sid[4];
};

static struct shared *sh;
static volatile int thread_stop;
static pid_t thread_tid;

static void record(int i)
{
	sh->pid[i] = getpid();
	sh->ppid[i] = getppid();
	sh->pgid[i] = getpgid(0);
	sh->sid[i] = getsid(0);
}

static void check_after(int i)
{
	sh->seen_pid[i] = getpid();
	sh->seen_ppid[i] = getppid();
	sh->seen_pgid[i] = getpgid(0);
	sh->seen_sid[i] = getsid(0);
}

static void child_wait(int i)
{
	record(i);
	zt_post(&sh->ready, 1);
	zt_wait_ge(&sh->go, 1, 3600);
	check_after(i);
	zt_post(&sh->done, 1);
}

static void *thread_fn(void *arg)
{
	(void)arg;
	thread_tid = zt_gettid();
	while (!__atomic_load_n(&thread_stop, __ATOMIC_SEQ_CST))
		usleep(1000);
	return NULL;
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The pids the namespace's /proc lists. */
static int proc_pids(pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && n < max)
			out[n++] = atoi(de->d_name);
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	pthread_t th;
	pid_t a, b, pids[16], pids_after[16];
	int np, np2, st;
	char nspid[64];
	int64_t t_ready, t_after;

	test_init(argc, argv);
	sh = zt_shared(sizeof(*sh));
	if (getpid() != 1)
		fail("not the init of a pid namespace (pid %d)", getpid());
	record(0);
	a = fork();
	if (a == 0) {
		pid_t g = fork();
		if (g == 0) {
			child_wait(2);
			_exit(0);
		}
		child_wait(1);
		if (waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st))
			_exit(1);
		_exit(0);
	}
	b = fork();
	if (b == 0) {
		setpgid(0, 0);
		child_wait(3);
		_exit(0);
	}
	if (pthread_create(&th, NULL, thread_fn, NULL))
		fail("pthread_create");
	if (zt_wait_ge(&sh->ready, 3, 10) < 0)
		fail("children not ready");
	while (!__atomic_load_n(&thread_tid, __ATOMIC_SEQ_CST))
		usleep(1000);
	np = proc_pids(pids, 16);
	t_ready = mono_ns();
	test_ready();
	test_waitsig();
	t_after = mono_ns();

	if (getpid() != 1)
		test_err("the init is pid %d after restore", getpid());
	np2 = proc_pids(pids_after, 16);
	if (np2 != np)
		test_err("/proc lists %d tasks, it listed %d", np2, np);
	for (int i = 0; i < np && np2 == np; i++) {
		int found = 0;
		for (int k = 0; k < np2; k++)
			found |= pids[i] == pids_after[k];
		if (!found)
			test_err("pid %d is gone from /proc", pids[i]);
	}
	check_after(0);
	sh->go = 1;
	if (test_self_fail)
		sh->pid[3]++;
	zt_post(&sh->go, 0);
	if (zt_wait_ge(&sh->done, 3, 10) < 0)
		test_err("children did not report");
	for (int i = 0; i < 4; i++)
		if (sh->pid[i] != sh->seen_pid[i] || sh->ppid[i] != sh->seen_ppid[i] || sh->pgid[i] != sh->seen_pgid[i] ||
		    sh->sid[i] != sh->seen_sid[i])
			test_err("task %d: pid/ppid/pgid/sid %d/%d/%d/%d, was %d/%d/%d/%d", i, sh->seen_pid[i],
				 sh->seen_ppid[i], sh->seen_pgid[i], sh->seen_sid[i], sh->pid[i], sh->ppid[i], sh->pgid[i],
				 sh->sid[i]);
	if (zt_proc_value("/proc/self/status", "NSpid:", nspid, sizeof(nspid)) < 0 || strcmp(nspid, "1"))
		test_err("the namespace's /proc says NSpid '%s' for the init", nspid);
	if (t_after < t_ready)
		test_err("the monotonic clock went back by %lld ns", (long long)(t_ready - t_after));
	else if (t_after - t_ready > 120LL * 1000000000LL)
		test_err("the monotonic clock jumped ahead by %lld s", (long long)((t_after - t_ready) / 1000000000LL));
	thread_stop = 1;
	zt_join((unsigned long)th, 10, "the thread");
	if (zt_waitpid(a, &st, 10, "child a") == 0 && (!WIFEXITED(st) || WEXITSTATUS(st)))
		test_err("child a ended with 0x%x", st);
	if (zt_waitpid(b, &st, 10, "child b") == 0 && (!WIFEXITED(st) || WEXITSTATUS(st)))
		test_err("child b ended with 0x%x", st);
	test_result();
}
