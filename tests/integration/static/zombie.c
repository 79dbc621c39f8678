/* Zombies: children that exited (with distinct statuses, one killed by a
 * signal) before the dump and were not reaped: after restore they are still
 * zombies with the same pids, and waitpid() returns their statuses. A live
 * child is there too, with a zombie child of its own that it reaps after
 * restore (a zombie below the root). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

#define NZ 3

int main(int argc, char **argv)
{
	pid_t z[NZ], live;
	int st, *live_ready;

	test_init(argc, argv);
	live_ready = zt_shared(sizeof(int));
	for (int i = 0; i < NZ; i++) {
		z[i] = fork();
		if (z[i] < 0)
			fail("fork: %m");
		if (z[i] == 0) {
			if (i == 2)
				raise(SIGKILL);
			_exit(40 + i);
		}
	}
	live = fork();
	if (live < 0)
		fail("fork: %m");
	if (live == 0) {
		siginfo_t si;
		pid_t gz;

		test_child_reset();
		gz = fork();
		if (gz < 0)
			_exit(2);
		if (gz == 0)
			_exit(9);
		if (waitid(P_PID, gz, &si, WEXITED | WNOWAIT))
			_exit(3);
		zt_post(live_ready, 1);
		test_waitsig();
		if (waitpid(gz, &st, WNOHANG) != gz || !WIFEXITED(st) || WEXITSTATUS(st) != 9)
			_exit(4); /* not a zombie of ours with status 9 any more */
		_exit(7);
	}
	/* wait until all are zombies, without reaping them */
	for (int i = 0; i < NZ; i++) {
		siginfo_t si;

		if (waitid(P_PID, z[i], &si, WEXITED | WNOWAIT))
			fail("waitid: %m");
	}

	if (zt_wait_ge(live_ready, 1, 30))
		fail("the live child's own zombie is not there");

	test_ready();
	test_waitsig();
	if (test_self_fail)
		waitpid(z[0], &st, 0); /* reap one */

	for (int i = 0; i < NZ; i++) {
		char path[64], *s;

		snprintf(path, sizeof(path), "/proc/%d/stat", z[i]);
		s = zt_read_file(path, NULL);
		if (!s || !strstr(s, ") Z "))
			test_err("child %d is not a zombie any more: %s", z[i], s ? s : "gone");
		free(s);
	}
	for (int i = 0; i < NZ; i++) {
		if (waitpid(z[i], &st, 0) != z[i]) {
			test_err("waitpid(%d): %m", z[i]);
			continue;
		}
		if (i == 2 ? !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
			   : !(WIFEXITED(st) && WEXITSTATUS(st) == 40 + i))
			test_err("zombie %d: status %#x", z[i], st);
	}
	kill(live, SIGTERM);
	if (!zt_waitpid(live, &st, 30, "live child") && !(WIFEXITED(st) && WEXITSTATUS(st) == 7))
		test_err("live child: status %#x (4: its own zombie child is gone or changed)", st);
	test_result();
}
