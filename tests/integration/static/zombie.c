/* Zombies: children that exited (with distinct statuses, one killed by a
 * signal) before the dump and were not reaped: after restore they are still
 * zombies with the same pids, and waitpid() returns their statuses. A live
 * child is there too. */
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
	int st;

	test_init(argc, argv);
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
		test_child_reset();
		test_waitsig();
		_exit(7);
	}
	/* wait until all are zombies, without reaping them */
	for (int i = 0; i < NZ; i++) {
		siginfo_t si;

		if (waitid(P_PID, z[i], &si, WEXITED | WNOWAIT))
			fail("waitid: %m");
	}

	test_ready();
	test_waitsig();

	for (int i = 0; i < NZ; i++) {
		char path[64], *s;

		snprintf(path, sizeof(path), "/proc/%d/stat", z[i]);
		s = zt_read_file(path, NULL);
		if (!s || !strstr(s, ") Z "))
			test_err("child %d is not a zombie any more: %s", z[i], s ? s : "gone");
		free(s);
	}
	if (test_self_fail)
		z[0] = z[1];
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
	if (waitpid(live, &st, 0) != live || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
		test_err("live child: status %#x", st);
	test_result();
}
