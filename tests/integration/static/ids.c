/* Ids: getpid(), the tids of threads (gettid() in each thread and the
 * /proc/self/task list), session and process group (the runner starts us as a
 * session leader), plus children in other groups: one that called setsid()
 * (its own session) and one that called setpgid(0, 0) (its own group in our
 * session); each child checks its own ids and exits 0 if they are right. */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

#define NTH 4

static pid_t pid0, sid0, pgid0, tids0[NTH];
static int go, tid_bad[NTH], tid_done[NTH];
static char tasks_before[1024], tasks_after[1024];
/* --shell-job restores (runner mode shell-job): the tree joins the restoring
 * session, so the session (and the group of the root) may change */
static int shell_job;

static void tasks(char *buf, size_t len)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int list[64], n = 0;

	buf[0] = 0;
	if (!d)
		return;
	while ((de = readdir(d)) && n < 64)
		if (de->d_name[0] != '.')
			list[n++] = atoi(de->d_name);
	closedir(d);
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && list[j - 1] > list[j]; j--) {
			int t = list[j];
			list[j] = list[j - 1];
			list[j - 1] = t;
		}
	for (int i = 0; i < n; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%d ", list[i]);
}

static void *thread_fn(void *arg)
{
	long i = (long)arg;

	__atomic_store_n(&tids0[i], zt_gettid(), __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&go, __ATOMIC_SEQ_CST))
		zt_futex_wait(&go, 0, NULL);
	tid_bad[i] = zt_gettid() != tids0[i] || getpid() != pid0;
	__atomic_store_n(&tid_done[i], 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* child: kind 0 = setsid, 1 = setpgid(0,0) */
static pid_t child(int kind)
{
	pid_t pid = fork();

	if (pid < 0)
		fail("fork: %m");
	if (pid)
		return pid;
	test_child_reset();
	if (kind == 0 ? setsid() < 0 : setpgid(0, 0) < 0)
		_exit(10);
	pid_t me = getpid(), sid = getsid(0), pgid = getpgrp();

	test_waitsig();
	if (getpid() != me || getpgrp() != pgid || (!shell_job && getsid(0) != sid))
		_exit(11);
	if (kind == 0 && (sid != me || pgid != me || getsid(0) != me))
		_exit(12);
	if (kind == 1 && (sid != sid0 || pgid != me))
		_exit(13);
	if (getppid() != pid0)
		_exit(14);
	_exit(0);
}

int main(int argc, char **argv)
{
	pthread_t th[NTH];
	pid_t kids[2];

	test_init(argc, argv);
	shell_job = getenv("ZT_SHELL_JOB") && atoi(getenv("ZT_SHELL_JOB"));
	pid0 = getpid();
	sid0 = getsid(0);
	pgid0 = getpgrp();
	if (sid0 != pid0)
		test_msg("note: not a session leader (sid %d)", sid0);
	for (long i = 0; i < NTH; i++)
		if (pthread_create(&th[i], NULL, thread_fn, (void *)i))
			fail("pthread_create");
	for (int i = 0; i < NTH; i++)
		while (!__atomic_load_n(&tids0[i], __ATOMIC_SEQ_CST))
			usleep(1000);
	kids[0] = child(0);
	kids[1] = child(1);
	/* wait for the children to have changed their ids */
	for (int n = 0; n < 1000; n++) {
		if (getsid(kids[0]) == kids[0] && getpgid(kids[1]) == kids[1])
			break;
		usleep(1000);
	}
	tasks(tasks_before, sizeof(tasks_before));

	test_ready();
	test_waitsig();

	if (getpid() != pid0)
		test_err("getpid() %d, was %d", getpid(), pid0);
	if (test_self_fail)
		tids0[2]++;
	if (shell_job)
		test_msg("shell job: sid/pgid %d/%d, were %d/%d", getsid(0), getpgrp(), sid0, pgid0);
	else if (getsid(0) != sid0 || getpgrp() != pgid0)
		test_err("sid/pgid %d/%d, were %d/%d", getsid(0), getpgrp(), sid0, pgid0);
	tasks(tasks_after, sizeof(tasks_after));
	if (strcmp(tasks_before, tasks_after))
		test_err("threads differ: before [%s] after [%s]", tasks_before, tasks_after);
	__atomic_store_n(&go, 1, __ATOMIC_SEQ_CST);
	zt_futex_wake(&go, NTH);
	for (int i = 0; i < NTH; i++) {
		if (zt_join(th[i], 5, "thread"))
			continue;
		if (tid_bad[i])
			test_err("thread %d: gettid() changed (was %d)", i, tids0[i]);
	}
	if (getsid(kids[0]) != kids[0])
		test_err("setsid child %d: sid %d", kids[0], getsid(kids[0]));
	if (getpgid(kids[1]) != kids[1] || (!shell_job && getsid(kids[1]) != sid0))
		test_err("setpgid child %d: pgid %d sid %d", kids[1], getpgid(kids[1]), getsid(kids[1]));
	for (int i = 0; i < 2; i++) {
		int st;

		kill(kids[i], SIGTERM);
		if (waitpid(kids[i], &st, 0) != kids[i])
			test_err("waitpid(%d): %m", kids[i]);
		else if (!WIFEXITED(st) || WEXITSTATUS(st))
			test_err("child %d (%s) failed: status %#x", kids[i], i ? "setpgid" : "setsid", st);
	}
	test_result();
}
