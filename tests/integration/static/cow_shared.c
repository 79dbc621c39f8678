/* Copy-on-write sharing: the root fills 128 MiB of private anonymous memory
 * and forks 4 children that only read it, so the 5 tasks share each page.
 * After restore (every task having read all of it again) the tree's total
 * Pss (/proc/PID/smaps_rollup) must stay near 128 MiB: below 1.5 x 128 MiB
 * (5 separate copies would be 640 MiB), and above 0.9 x 128 MiB (the pages
 * are there). The figures before and after are printed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

#define NKIDS 4
#define LEN (128UL << 20)
#define SEED 0xc0c0

struct sync {
	int up, verify, verified, quit, bad;
};

static struct sync *s;
static unsigned char *mem;

static long pss_kb(pid_t pid)
{
	char p[64], v[64];

	snprintf(p, sizeof(p), "/proc/%d/smaps_rollup", (int)pid);
	if (zt_proc_value(p, "Pss:", v, sizeof(v)))
		return -1;
	return atol(v);
}

static long tree_pss(const pid_t *kids)
{
	long t = pss_kb(getpid());

	for (int i = 0; i < NKIDS; i++) {
		long k = pss_kb(kids[i]);

		if (k < 0 || t < 0)
			return -1;
		t += k;
	}
	return t;
}

static void child(int idx)
{
	test_child_reset();
	if (zt_verify(mem, LEN, SEED) >= 0)
		_exit(1);
	zt_post(&s->up, 1);
	if (zt_wait_ge(&s->verify, 1, 3600))
		_exit(2);
	if (test_self_fail && idx == 0)
		zt_fill(mem, LEN, SEED); /* same data, but every page copied */
	if (zt_verify(mem, LEN, SEED) >= 0)
		zt_post(&s->bad, 1);
	zt_post(&s->verified, 1);
	zt_wait_ge(&s->quit, 1, 3600);
	_exit(0);
}

int main(int argc, char **argv)
{
	pid_t kids[NKIDS];
	long before, after;
	int st;

	test_init(argc, argv);
	s = zt_shared(sizeof(*s));
	mem = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		fail("mmap: %m");
	madvise(mem, LEN, MADV_NOHUGEPAGE); /* 4 KiB pages, as most programs' heaps */
	zt_fill(mem, LEN, SEED);
	for (int i = 0; i < NKIDS; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			fail("fork: %m");
		if (kids[i] == 0)
			child(i);
	}
	if (zt_wait_ge(&s->up, NKIDS, 60))
		fail("the children did not read the memory");
	before = tree_pss(kids);
	test_msg("tree Pss before the checkpoint: %ld kB (128 MiB = %lu kB)", before, LEN >> 10);
	if (before < 0 || before > (long)(LEN >> 10) * 3 / 2)
		fail("the tree's Pss is %ld kB before the checkpoint: no sharing to begin with", before);

	test_ready();
	test_waitsig();

	zt_check("the root's memory", mem, LEN, SEED);
	zt_post(&s->verify, 1);
	if (zt_wait_ge(&s->verified, NKIDS, 60))
		test_err("the children did not verify");
	if (s->bad)
		test_err("%d children see different memory", s->bad);
	after = tree_pss(kids);
	test_msg("tree Pss after: %ld kB (before %ld kB)", after, before);
	if (after < 0 || after > (long)(LEN >> 10) * 3 / 2)
		test_err("the tree's Pss is %ld kB, was %ld kB: the copy-on-write sharing is lost", after, before);
	else if (after < (long)(LEN >> 10) * 9 / 10)
		test_err("the tree's Pss is %ld kB: less than the 128 MiB it holds", after);
	zt_post(&s->quit, 1);
	for (int i = 0; i < NKIDS; i++)
		if (!zt_waitpid(kids[i], &st, 30, "child") && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
			test_err("child %d: status %#x", i, st);
	test_result();
}
