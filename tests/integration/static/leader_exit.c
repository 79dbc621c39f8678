/* A thread-group leader that exited (pthread_exit() in main) while two threads
 * run on: after restore the leader is still a zombie thread, the process has the
 * same pid and exactly the same threads with their tids, one of them still
 * counting; the other verifies and ends the test. */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ztest.h"

static pid_t pid0, tid_check, tid_count;
static int counter, stop, started;
static char tasks_before[256];

static void tasks(char *out, size_t len)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int t[64], n = 0;

	out[0] = 0;
	if (!d)
		return;
	while ((de = readdir(d)) && n < 64)
		if (de->d_name[0] != '.')
			t[n++] = atoi(de->d_name);
	closedir(d);
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
			int x = t[j];
			t[j] = t[j - 1];
			t[j - 1] = x;
		}
	for (int i = 0; i < n; i++)
		snprintf(out + strlen(out), len - strlen(out), "%d ", t[i]);
}

static char leader_state(void)
{
	char p[64], *s, *c, st = '?';

	snprintf(p, sizeof(p), "/proc/self/task/%d/stat", (int)pid0);
	s = zt_read_file(p, NULL);
	if (s && (c = strrchr(s, ')')) && c[1] == ' ')
		st = c[2];
	free(s);
	return st;
}

static void *count_fn(void *arg)
{
	(void)arg;
	tid_count = zt_gettid();
	zt_post(&started, 1);
	while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
		if (zt_gettid() != tid_count)
			test_err("counting thread: tid %d, was %d", zt_gettid(), tid_count);
		zt_post(&counter, 1);
		usleep(1000);
	}
	return NULL;
}

static void *idle_fn(void *arg)
{
	(void)arg;
	zt_wait_ge(&stop, 1, 3600);
	return NULL;
}

static void *check_fn(void *arg)
{
	pthread_t counting = *(pthread_t *)arg;
	char now[256];
	int c0;

	tid_check = zt_gettid();
	/* the leader is gone: wait until it is a zombie */
	for (int i = 0; i < 30000 && leader_state() != 'Z'; i++)
		usleep(1000);
	if (leader_state() != 'Z')
		fail("the leader did not become a zombie (state %c)", leader_state());
	tasks(tasks_before, sizeof(tasks_before));

	test_ready();
	test_waitsig();
	if (test_self_fail) {
		pthread_t extra;

		pthread_create(&extra, NULL, idle_fn, NULL); /* one more thread */
	}

	if (getpid() != pid0 || zt_gettid() != tid_check)
		test_err("pid/tid %d/%d, were %d/%d", getpid(), zt_gettid(), pid0, tid_check);
	if (leader_state() != 'Z')
		test_err("the leader's state is %c, want Z (it exited before the checkpoint)",
			 leader_state());
	tasks(now, sizeof(now));
	if (strcmp(now, tasks_before))
		test_err("threads [%s], were [%s]", now, tasks_before);
	c0 = __atomic_load_n(&counter, __ATOMIC_SEQ_CST);
	if (zt_wait_ge(&counter, c0 + 10, 30))
		test_err("the counting thread does not run");
	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	zt_join(counting, 10, "counting thread");
	test_result(); /* exit_group from a thread */
}

int main(int argc, char **argv)
{
	static pthread_t counting, checking;

	test_init(argc, argv);
	pid0 = getpid();
	if (pthread_create(&counting, NULL, count_fn, NULL))
		fail("pthread_create");
	if (zt_wait_ge(&started, 1, 30))
		fail("the counting thread did not start");
	if (pthread_create(&checking, NULL, check_fn, &counting))
		fail("pthread_create");
	pthread_exit(NULL);
}
