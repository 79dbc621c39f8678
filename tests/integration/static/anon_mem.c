/* Private anonymous memory of several sizes: pattern pages, never-touched pages,
 * touched zero pages (written and read-faulted), MADV_DONTNEED'd pages, a THP
 * region and a 64 MiB region. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "ztest.h"

#define MB (1024UL * 1024)

struct region {
	const char *name;
	size_t size;
	int huge;
	unsigned char *p;
};

static struct region regions[] = {
	{ "one page", ZT_PAGE, 0, NULL },
	{ "64 KiB", 64 * 1024, 0, NULL },
	{ "1 MiB + 1 page", MB + ZT_PAGE, 0, NULL },
	{ "mixed 256 pages", 256 * ZT_PAGE, 0, NULL },
	{ "THP 8 MiB", 8 * MB, 1, NULL },
	{ "64 MiB", 64 * MB, 0, NULL },
};
#define NR_REGIONS (sizeof(regions) / sizeof(regions[0]))

/* Page kinds in the "mixed" and 64 MiB regions, by page index. */
enum { K_PATTERN, K_UNTOUCHED, K_ZERO_WRITTEN, K_ZERO_READ };

static int kind_of(size_t page)
{
	switch (page % 16) {
	case 3:
	case 4:
		return K_UNTOUCHED;
	case 7:
		return K_ZERO_WRITTEN;
	case 11:
		return K_ZERO_READ;
	default:
		return K_PATTERN;
	}
}

static uint64_t seed_of(size_t r, size_t page)
{
	return 0x1000 * (r + 1) + page + 1;
}

static volatile unsigned char sink;

static void setup(size_t r)
{
	struct region *g = &regions[r];
	size_t npages = g->size / ZT_PAGE;
	unsigned char *p;

	if (g->huge) {
		/* 2 MiB aligned so that THP can back it */
		unsigned char *raw = mmap(NULL, g->size + 2 * MB, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (raw == MAP_FAILED)
			fail("mmap %s: %m", g->name);
		p = (unsigned char *)(((unsigned long)raw + 2 * MB - 1) & ~(2 * MB - 1));
		madvise(p, g->size, MADV_HUGEPAGE);
	} else {
		p = mmap(NULL, g->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			fail("mmap %s: %m", g->name);
	}
	g->p = p;
	if (npages < 64 || g->huge) {
		zt_fill(p, g->size, seed_of(r, 0));
		return;
	}
	for (size_t i = 0; i < npages; i++) {
		unsigned char *pg = p + i * ZT_PAGE;

		switch (kind_of(i)) {
		case K_PATTERN:
			zt_fill(pg, ZT_PAGE, seed_of(r, i));
			break;
		case K_UNTOUCHED:
			break;
		case K_ZERO_WRITTEN:
			memset(pg, 0xa5, ZT_PAGE);
			memset(pg, 0, ZT_PAGE);
			break;
		case K_ZERO_READ:
			sink = pg[100];
			break;
		}
	}
	/* a DONTNEED'd run in the middle: written, then dropped -> zero */
	memset(p + 16 * ZT_PAGE, 0x5a, 16 * ZT_PAGE);
	madvise(p + 16 * ZT_PAGE, 16 * ZT_PAGE, MADV_DONTNEED);
}

static void verify(size_t r)
{
	struct region *g = &regions[r];
	size_t npages = g->size / ZT_PAGE;
	char what[128];

	if (npages < 64 || g->huge) {
		zt_check(g->name, g->p, g->size, seed_of(r, 0));
		return;
	}
	for (size_t i = 0; i < npages; i++) {
		unsigned char *pg = g->p + i * ZT_PAGE;
		int bad;

		snprintf(what, sizeof(what), "%s page %zu", g->name, i);
		if (i >= 16 && i < 32)
			bad = zt_check(what, pg, ZT_PAGE, 0);
		else if (kind_of(i) == K_PATTERN)
			bad = zt_check(what, pg, ZT_PAGE, seed_of(r, i));
		else
			bad = zt_check(what, pg, ZT_PAGE, 0);
		if (bad && test_failed() > 10)
			return;
	}
}

int main(int argc, char **argv)
{
	test_init(argc, argv);
	for (size_t r = 0; r < NR_REGIONS; r++)
		setup(r);
	test_ready();
	test_waitsig();
	if (test_self_fail)
		regions[5].p[40 * MB + 123] ^= 1;
	for (size_t r = 0; r < NR_REGIONS; r++)
		verify(r);
	/* the memory must still be usable: write and check it again */
	zt_fill(regions[3].p, regions[3].size, 77);
	zt_check("rewritten mixed region", regions[3].p, regions[3].size, 77);
	test_result();
}
