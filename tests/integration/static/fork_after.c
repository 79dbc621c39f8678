/* Forks after the restore (a shell, a prefork server): with a lazy restore the children's
 * memory is a copy of the parent's pages that have not arrived yet. 8 MiB private and
 * 1 MiB of MAP_SHARED|MAP_ANONYMOUS, both filled with a pattern, none of it read after
 * the restore before the first fork. Child A reads all of it (the dumped contents), writes
 * its own copy, forks A2 (which must see A's writes and the rest as dumped) and exits
 * after A2; child B exits without touching anything; child C execs /bin/true; child D
 * reads half and then waits until the parent is done, so that the parent's changes to its
 * own pages stay out of D's copy. The parent checks its memory is as dumped (not A's
 * writes) and that A's write to the shared mapping is there. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

#define PRIV (8u << 20)
#define SHRD (1u << 20)
#define CH (64u << 10) /* the private memory: chunks, each with its own pattern */
#define NCH (PRIV / CH)

static char *priv, *shrd;
static int *go; /* D waits on it */

/* Chunks [from, to) as dumped, but their last 8 bytes (tail: compared too). */
static int chunks_ok(unsigned from, unsigned to, bool tail)
{
	for (unsigned k = from; k < to; k++)
		if (zt_verify(priv + k * CH, tail ? CH : CH - 8, 100 + k) >= 0)
			return 0;
	return 1;
}

static int child_a2(void)
{
	/* A wrote the last byte of every chunk; the rest is as dumped */
	for (unsigned k = 0; k < NCH; k++)
		if (priv[k * CH + CH - 1] != 'A')
			return 3;
	return chunks_ok(0, NCH, false) ? 0 : 4;
}

static int child_a(void)
{
	int st;

	if (!chunks_ok(0, NCH, true) || zt_verify(shrd, SHRD, 2) >= 0)
		return 1;
	for (unsigned k = 0; k < NCH; k++)
		priv[k * CH + CH - 1] = 'A';
	shrd[SHRD - 1] = 'S';
	pid_t p = fork();
	if (p < 0)
		return 2;
	if (p == 0)
		_exit(child_a2());
	if (zt_waitpid(p, &st, 30, "A2"))
		return 2;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 5;
}

static int child_d(void)
{
	if (!chunks_ok(NCH / 2, NCH, true))
		return 1;
	if (zt_wait_ge(go, 1, 30))
		return 2;
	/* the parent wrote over its first half meanwhile: not here */
	if (!chunks_ok(0, NCH / 2, true))
		return 3;
	return 0;
}

static pid_t start(int (*fn)(void))
{
	pid_t p = fork();

	if (p < 0)
		fail("fork: %m");
	if (p == 0)
		_exit(fn());
	return p;
}

static int nothing(void)
{
	return 0;
}

static int exec_true(void)
{
	execl("/bin/true", "true", (char *)NULL);
	return 9;
}

static void reap(pid_t p, const char *what)
{
	int st;

	if (zt_waitpid(p, &st, 30, what))
		test_err("%s did not exit", what);
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		test_err("child %s: status %#x", what, st);
}

int main(int argc, char **argv)
{
	test_init(argc, argv);
	priv = mmap(NULL, PRIV, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	shrd = mmap(NULL, SHRD, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	go = zt_shared(sizeof(*go));
	if (priv == MAP_FAILED || shrd == MAP_FAILED || !go)
		fail("mmap: %m");
	for (unsigned k = 0; k < NCH; k++)
		zt_fill(priv + k * CH, CH, 100 + k);
	zt_fill(shrd, SHRD, 2);

	test_ready();
	test_waitsig();
	if (test_self_fail)
		priv[PRIV - 1] ^= 1;

	pid_t d = start(child_d);
	reap(start(child_a), "A");
	reap(start(nothing), "B");
	reap(start(exec_true), "C (exec)");
	/* ours: as dumped, not A's */
	if (!chunks_ok(0, NCH, true))
		test_err("the private memory is not as dumped");
	if (shrd[SHRD - 1] != 'S')
		test_err("A's write to the shared mapping is not there");
	shrd[SHRD - 1] = 0;
	memset(priv, 'P', PRIV / 2);
	zt_post(go, 1);
	reap(d, "D");
	if (zt_verify(shrd, SHRD - 8, 2) >= 0)
		test_err("the shared memory is not as dumped");
	test_result();
}
