/* VMA flags a program sets: mlock(), MAP_LOCKED, mlock2(MLOCK_ONFAULT),
 * MADV_DONTFORK, MADV_DONTDUMP, MADV_WIPEONFORK, MADV_HUGEPAGE,
 * MADV_NOHUGEPAGE, MADV_RANDOM, MADV_SEQUENTIAL, each on its own region (and
 * one region with none). After restore each region's VmFlags line in
 * /proc/self/smaps is the same, VmLck is the same, locked pages are resident,
 * the data is intact, and a child forked then does not get the DONTFORK region
 * and gets the WIPEONFORK one zeroed. (16 locked pages: far below this
 * machine's RLIMIT_MEMLOCK.) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

#define NP 4
#define STRIDE ((NP + 1) * ZT_PAGE) /* a PROT_NONE page between regions: no merging */

enum { R_MLOCK, R_MAP_LOCKED, R_ONFAULT, R_DONTFORK, R_DONTDUMP, R_WIPEONFORK, R_HUGE, R_NOHUGE,
       R_RANDOM, R_SEQ, R_NONE, NR };

static const char *rname[NR] = { "mlock", "MAP_LOCKED", "MLOCK_ONFAULT", "DONTFORK", "DONTDUMP",
				 "WIPEONFORK", "HUGEPAGE", "NOHUGEPAGE", "RANDOM", "SEQUENTIAL", "none" };
static const int advice[NR] = { -1, -1, -1, MADV_DONTFORK, MADV_DONTDUMP, MADV_WIPEONFORK,
				MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_RANDOM, MADV_SEQUENTIAL, -1 };

static unsigned char *base;

static unsigned char *reg(int i)
{
	return base + i * STRIDE;
}

/* the VmFlags line of the VMA starting at addr */
static void vmflags(void *addr, char *out, size_t len)
{
	char *s = zt_read_file("/proc/self/smaps", NULL), *l, key[32];

	out[0] = 0;
	snprintf(key, sizeof(key), "%lx-", (unsigned long)addr);
	for (l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, key, strlen(key))) {
			l = strstr(l, "VmFlags:");
			if (l)
				snprintf(out, len, "%.*s", (int)strcspn(l, "\n"), l);
			break;
		}
	free(s);
}

static int resident(void *addr)
{
	unsigned char v[NP];

	if (mincore(addr, NP * ZT_PAGE, v))
		return -1;
	for (int i = 0; i < NP; i++)
		if (!(v[i] & 1))
			return 0;
	return 1;
}

/* a child forked now: a bit for each thing it does not see as it should */
static int fork_check(void)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		fail("fork: %m");
	if (pid == 0) {
		unsigned char v[NP];
		int r = 0;

		if (mincore(reg(R_DONTFORK), NP * ZT_PAGE, v) != -1 || errno != ENOMEM)
			r |= 1; /* DONTFORK: not mapped in the child */
		if (zt_verify_zero(reg(R_WIPEONFORK), NP * ZT_PAGE) >= 0)
			r |= 2; /* WIPEONFORK: zero in the child */
		if (zt_verify(reg(R_NONE), NP * ZT_PAGE, 0x7600 + R_NONE) >= 0)
			r |= 4; /* the others: inherited */
		_exit(r);
	}
	if (zt_waitpid(pid, &st, 30, "forked child"))
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 254;
}

int main(int argc, char **argv)
{
	char before[NR][256], after[256], lck_before[64], lck_after[64];
	int r;

	test_init(argc, argv);
	base = mmap(NULL, NR * STRIDE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		fail("mmap: %m");
	for (int i = 0; i < NR; i++) {
		int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | (i == R_MAP_LOCKED ? MAP_LOCKED : 0);

		if (mmap(reg(i), NP * ZT_PAGE, PROT_READ | PROT_WRITE, flags, -1, 0) != reg(i))
			fail("mmap region %s: %m", rname[i]);
		zt_fill(reg(i), NP * ZT_PAGE, 0x7600 + i);
		if (advice[i] >= 0 && madvise(reg(i), NP * ZT_PAGE, advice[i]))
			fail("madvise %s: %m", rname[i]);
	}
	if (mlock(reg(R_MLOCK), NP * ZT_PAGE) || mlock2(reg(R_ONFAULT), NP * ZT_PAGE, MLOCK_ONFAULT))
		fail("mlock: %m");
	for (int i = 0; i < NR; i++)
		vmflags(reg(i), before[i], sizeof(before[i]));
	if (zt_proc_value("/proc/self/status", "VmLck:", lck_before, sizeof(lck_before)))
		fail("no VmLck");
	if ((r = fork_check()))
		fail("fork does not behave here (%#x)", r);

	test_ready();
	test_waitsig();
	if (test_self_fail)
		munlock(reg(R_MLOCK), NP * ZT_PAGE);

	for (int i = 0; i < NR; i++) {
		char what[64];

		vmflags(reg(i), after, sizeof(after));
		if (strcmp(after, before[i]))
			test_err("region %s: '%s', was '%s'", rname[i], after, before[i]);
		snprintf(what, sizeof(what), "region %s", rname[i]);
		zt_check(what, reg(i), NP * ZT_PAGE, 0x7600 + i);
	}
	zt_proc_value("/proc/self/status", "VmLck:", lck_after, sizeof(lck_after));
	if (strcmp(lck_after, lck_before))
		test_err("VmLck: %s, was %s", lck_after, lck_before);
	if (resident(reg(R_MLOCK)) != 1 || resident(reg(R_MAP_LOCKED)) != 1)
		test_err("locked pages are not resident");
	if ((r = fork_check()))
		test_err("a child forked after restore: %#x (1 DONTFORK region mapped, 2 WIPEONFORK "
			 "region not zero, 4 plain region differs)", r);
	test_result();
}
