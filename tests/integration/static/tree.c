/* A process tree: the root forks 3 children, the second forks a grandchild.
 * Every process has its own private memory pattern (and the children a COW
 * copy of the root's), and all share one MAP_SHARED|MAP_ANONYMOUS region
 * (one slot each). After SIGTERM (sent by the root to its children, which pass
 * it on) each process verifies its memory, writes its slot of the shared
 * region, and exits with 10 + its index; the root reaps them, checks the exit
 * statuses and sees every slot written. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

#define NKIDS 3
#define PRIV (256 * ZT_PAGE)
#define SLOT ZT_PAGE
/* shared slots: 0 root, 1..3 children, 4 grandchild */
#define NSLOTS 5

static unsigned char *inherited, *shared;

static int verify_own(int idx, unsigned char *priv, pid_t pid0)
{
	if (getpid() != pid0)
		return 20;
	if (zt_verify(priv, PRIV, 0x7000 + idx) >= 0)
		return 21;
	if (zt_verify(inherited, PRIV, 0x7777) >= 0)
		return 22;
	if (zt_verify(shared + idx * SLOT, SLOT, 0x5000 + idx) >= 0)
		return 23;
	return 0;
}

static pid_t spawn(int idx, int with_grandchild)
{
	pid_t pid = fork();

	if (pid < 0)
		fail("fork: %m");
	if (pid)
		return pid;

	test_child_reset();
	pid_t me = getpid(), gc = 0;
	unsigned char *priv = mmap(NULL, PRIV, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (priv == MAP_FAILED)
		_exit(30);
	zt_fill(priv, PRIV, 0x7000 + idx);
	zt_fill(shared + idx * SLOT, SLOT, 0x5000 + idx);
	if (with_grandchild)
		gc = spawn(NKIDS + 1, 0);
	/* a COW write to one page of the inherited region: only in this process */
	inherited[ZT_PAGE * (10 + idx)] ^= 0xff;
	test_waitsig();
	inherited[ZT_PAGE * (10 + idx)] ^= 0xff;
	int r = verify_own(idx, priv, me);

	if (gc) {
		int st;

		kill(gc, SIGTERM);
		if (waitpid(gc, &st, 0) != gc || !WIFEXITED(st) || WEXITSTATUS(st) != 10 + NKIDS + 1)
			r = r ? r : 24;
	}
	if (r)
		_exit(r);
	zt_fill(shared + idx * SLOT, SLOT, 0x6000 + idx); /* "I was here, after restore" */
	_exit(10 + idx);
}

int main(int argc, char **argv)
{
	pid_t kids[NKIDS], pid0;
	unsigned char *priv;

	test_init(argc, argv);
	pid0 = getpid();
	inherited = mmap(NULL, PRIV, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	shared = mmap(NULL, NSLOTS * SLOT, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	priv = mmap(NULL, PRIV, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (inherited == MAP_FAILED || shared == MAP_FAILED || priv == MAP_FAILED)
		fail("mmap: %m");
	zt_fill(inherited, PRIV, 0x7777);
	zt_fill(priv, PRIV, 0x7000);
	zt_fill(shared, SLOT, 0x5000);
	for (int i = 0; i < NKIDS; i++)
		kids[i] = spawn(i + 1, i == 1);
	/* ready when every process has set up its state */
	for (int n = 0; n < 5000; n++) {
		int ok = 1;

		for (int i = 1; i < NSLOTS; i++)
			if (zt_verify(shared + i * SLOT, SLOT, 0x5000 + i) >= 0)
				ok = 0;
		if (ok)
			break;
		usleep(1000);
	}
	usleep(50 * 1000);

	test_ready();
	test_waitsig();

	if (test_self_fail)
		shared[3 * SLOT + 5] ^= 1;
	for (int i = 0; i < NKIDS; i++)
		kill(kids[i], SIGTERM);
	for (int i = 0; i < NKIDS; i++) {
		int st;

		if (waitpid(kids[i], &st, 0) != kids[i]) {
			test_err("waitpid(%d): %m", kids[i]);
			continue;
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 10 + i + 1)
			test_err("child %d (pid %d): status %#x, expected exit %d (20+: its own check "
				 "failed)", i + 1, kids[i], st, 10 + i + 1);
	}
	if (waitpid(-1, NULL, WNOHANG) != -1)
		test_err("an unexpected child is left");
	if (verify_own(0, priv, pid0))
		test_err("root's own memory differs");
	for (int i = 1; i < NSLOTS; i++) {
		char w[64];

		snprintf(w, sizeof(w), "shared slot %d written after restore", i);
		zt_check(w, shared + i * SLOT, SLOT, 0x6000 + i);
	}
	test_result();
}
