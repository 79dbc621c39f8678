/* More VMA state a program sets, beside vma_flags: a region sealed with mseal()
 * ("sl"), one named with PR_SET_VMA_ANON_NAME ("[anon:NAME]" in maps), a
 * MAP_DROPPABLE one ("dp"), a MADV_MERGEABLE one ("mg"), and the process-wide
 * mlockall(MCL_FUTURE | MCL_ONFAULT): a mapping made after restore comes locked
 * on fault ("lo lf"). After restore each region's maps line and VmFlags are the
 * same, the data is intact, the sealed region still refuses mprotect (EPERM),
 * and the named one keeps its name through a split (where the kernel has
 * CONFIG_ANON_VMA_NAME; this one does not). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ztest.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif
#define NR_mseal 462

#define NP 4
#define STRIDE ((NP + 1) * ZT_PAGE) /* a PROT_NONE page between regions: no merging */

enum { R_SEALED, R_NAMED, R_DROPPABLE, R_MERGEABLE, NR };

static const char *rname[NR] = { "sealed", "named", "droppable", "mergeable" };
static unsigned char *base;

static unsigned char *reg(int i)
{
	return base + i * STRIDE;
}

/* the maps line (without the inode column's padding) and VmFlags of the VMA at addr */
static void vma_desc(void *addr, char *out, size_t len)
{
	char *s = zt_read_file("/proc/self/smaps", NULL), *l, key[32];

	out[0] = 0;
	snprintf(key, sizeof(key), "%lx-", (unsigned long)addr);
	for (l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, key, strlen(key))) {
			char *f = strstr(l, "VmFlags:");
			int n = strcspn(l, "\n");
			char *name = memchr(l, '[', n);

			snprintf(out, len, "%.*s | %.*s", name ? (int)(n - (name - l)) : 0, name ? name : "",
				 f ? (int)strcspn(f, "\n") : 0, f ? f : "");
			break;
		}
	free(s);
}

static int has_flags(void *addr, const char *want)
{
	char d[512], *f;

	vma_desc(addr, d, sizeof(d));
	f = strstr(d, "VmFlags:");
	for (const char *w = want; f && w[0] && w[1]; w += w[2] ? 3 : 2) /* "xx yy ..." */
		if (!strstr(f, (char[4]){ ' ', w[0], w[1], 0 }))
			return 0;
	return f != NULL;
}

int main(int argc, char **argv)
{
	char before[NR][512], after[512];
	unsigned char *later;
	int named = 0;

	test_init(argc, argv);
	base = mmap(NULL, NR * STRIDE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		fail("mmap: %m");
	for (int i = 0; i < NR; i++) {
		int type = i == R_DROPPABLE ? MAP_DROPPABLE : MAP_PRIVATE;

		if (mmap(reg(i), NP * ZT_PAGE, PROT_READ | PROT_WRITE, type | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
		    reg(i))
			fail("mmap region %s: %m", rname[i]);
		zt_fill(reg(i), NP * ZT_PAGE, 0x7700 + i);
	}
	if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, reg(R_NAMED), NP * ZT_PAGE, "zt-named region") == 0)
		named = 1;
	else if (errno == EINVAL)
		test_msg("no anonymous VMA names on this kernel (CONFIG_ANON_VMA_NAME): not checked");
	else
		fail("PR_SET_VMA_ANON_NAME: %m");
	if (madvise(reg(R_MERGEABLE), NP * ZT_PAGE, MADV_MERGEABLE))
		fail("MADV_MERGEABLE: %m");
	if (syscall(NR_mseal, reg(R_SEALED), NP * ZT_PAGE, 0))
		fail("mseal: %m");
	if (mlockall(MCL_FUTURE | MCL_ONFAULT))
		fail("mlockall: %m");
	for (int i = 0; i < NR; i++)
		vma_desc(reg(i), before[i], sizeof(before[i]));
	if ((named && !strstr(before[R_NAMED], "[anon:zt-named region]")) || !has_flags(reg(R_SEALED), "sl") ||
	    !has_flags(reg(R_DROPPABLE), "dp") || !has_flags(reg(R_MERGEABLE), "mg"))
		fail("the regions do not show their state here: %s; %s", before[R_NAMED], before[R_SEALED]);

	test_ready();
	test_waitsig();
	if (test_self_fail)
		munlockall(); /* MCL_FUTURE gone */

	for (int i = 0; i < NR; i++) {
		vma_desc(reg(i), after, sizeof(after));
		if (strcmp(after, before[i]))
			test_err("region %s: '%s', was '%s'", rname[i], after, before[i]);
		if (i != R_DROPPABLE) /* the kernel may drop those pages under pressure */
			zt_check(rname[i], reg(i), NP * ZT_PAGE, 0x7700 + i);
	}
	if (mprotect(reg(R_SEALED), ZT_PAGE, PROT_READ) != -1 || errno != EPERM)
		test_err("the sealed region could be mprotect()ed (%m)");
	later = mmap(NULL, ZT_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (later == MAP_FAILED)
		test_err("mmap after restore: %m");
	else if (!has_flags(later, "lo lf"))
		test_err("a mapping made after restore is not locked on fault (mlockall(MCL_FUTURE|MCL_ONFAULT) lost)");
	/* the name survives a split */
	if (mprotect(reg(R_NAMED) + ZT_PAGE, ZT_PAGE, PROT_READ))
		test_err("mprotect: %m");
	vma_desc(reg(R_NAMED) + ZT_PAGE, after, sizeof(after));
	if (named && !strstr(after, "[anon:zt-named region]"))
		test_err("the named region's second part: '%s'", after);
	test_result();
}
