/* Guard pages installed with madvise(MADV_GUARD_INSTALL) in a private
 * anonymous region with data around them (first page, two in the middle, last
 * page). They read as EIO through /proc/self/mem. After restore: each guard
 * page still faults and still gives EIO, the data pages are intact, VmFlags
 * still shows "gu", and MADV_GUARD_REMOVE gives back a zero page. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ztest.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif

#define NP 16
static const int guard[] = { 0, 5, 6, 15 };
#define NG (int)(sizeof(guard) / sizeof(guard[0]))

static sigjmp_buf jb;
static unsigned char *r, want[NP * ZT_PAGE];

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

/* 1 if reading addr faults */
static int faults(volatile unsigned char *addr)
{
	if (sigsetjmp(jb, 1))
		return 1;
	(void)*addr;
	return 0;
}

static int is_guard(int page)
{
	for (int i = 0; i < NG; i++)
		if (guard[i] == page)
			return 1;
	return 0;
}

/* does the VMA at addr show flag in VmFlags? */
static int vmflag(void *addr, const char *flag)
{
	char *s = zt_read_file("/proc/self/smaps", NULL), *l, key[32];
	int found = -1;

	snprintf(key, sizeof(key), "%lx-", (unsigned long)addr);
	l = s ? strstr(s, key) : NULL;
	if (l && (l == s || l[-1] == '\n') && (l = strstr(l, "VmFlags:"))) {
		char line[256], needle[8];

		snprintf(line, sizeof(line), "%.*s ", (int)strcspn(l, "\n"), l);
		snprintf(needle, sizeof(needle), " %s ", flag);
		found = strstr(line, needle) != NULL;
	}
	free(s);
	return found;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_segv };
	int mem;

	test_init(argc, argv);
	sigaction(SIGSEGV, &sa, NULL);
	r = mmap(NULL, NP * ZT_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		fail("mmap: %m");
	zt_fill(r, NP * ZT_PAGE, 0x6a7d);
	memcpy(want, r, NP * ZT_PAGE);
	for (int i = 0; i < NG; i++)
		if (madvise(r + guard[i] * ZT_PAGE, ZT_PAGE, MADV_GUARD_INSTALL))
			fail("MADV_GUARD_INSTALL: %m");
	if (!faults(r) || vmflag(r, "gu") != 1)
		fail("guard pages do not work here");

	test_ready();
	test_waitsig();
	if (test_self_fail)
		madvise(r + 5 * ZT_PAGE, ZT_PAGE, MADV_GUARD_REMOVE);

	mem = open("/proc/self/mem", O_RDONLY);
	if (mem < 0)
		fail("open /proc/self/mem: %m");
	if (vmflag(r, "gu") != 1)
		test_err("VmFlags of the region has no \"gu\"");
	for (int i = 0; i < NP; i++) {
		unsigned char b[16];
		ssize_t n = pread(mem, b, sizeof(b), (off_t)(unsigned long)(r + i * ZT_PAGE));

		if (is_guard(i)) {
			if (!faults(r + i * ZT_PAGE))
				test_err("page %d: not a guard page any more (no fault)", i);
			if (n != -1 || errno != EIO)
				test_err("page %d: /proc/self/mem read gives %zd (%m), want EIO", i, n);
		} else if (faults(r + i * ZT_PAGE)) {
			test_err("page %d: faults, it holds data", i);
		} else if (memcmp(r + i * ZT_PAGE, want + i * ZT_PAGE, ZT_PAGE) ||
			   n != sizeof(b) || memcmp(b, want + i * ZT_PAGE, n)) {
			test_err("page %d: data differs", i);
		}
	}
	close(mem);
	if (madvise(r + 6 * ZT_PAGE, ZT_PAGE, MADV_GUARD_REMOVE) || faults(r + 6 * ZT_PAGE) ||
	    zt_verify_zero(r + 6 * ZT_PAGE, ZT_PAGE) >= 0)
		test_err("MADV_GUARD_REMOVE: page 6 is not a zero page (%m)");
	test_result();
}
