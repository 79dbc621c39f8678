/* Guard (PROT_NONE) regions and mprotect'ed regions: /proc/self/maps must be
 * identical before the dump and after restore (addresses, protections,
 * offsets, names: this also catches VMAs the restore left behind or lost), the
 * data readable where it was, and a guard page must still fault. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ztest.h"

#define NPAGES 32

static char maps_before[65536], maps_after[65536];
static sigjmp_buf jb;
static volatile int faulted;

static void read_maps(char *buf, size_t size)
{
	int fd = open("/proc/self/maps", O_RDONLY);
	size_t len = 0;
	ssize_t r;

	if (fd < 0)
		fail("open maps: %m");
	while ((r = read(fd, buf + len, size - 1 - len)) > 0)
		len += r;
	close(fd);
	buf[len] = 0;
}

static void segv(int sig)
{
	(void)sig;
	faulted = 1;
	siglongjmp(jb, 1);
}

static int probe(volatile unsigned char *p)
{
	faulted = 0;
	if (!sigsetjmp(jb, 1))
		(void)*p;
	return faulted;
}

int main(int argc, char **argv)
{
	unsigned char *guard, *rw, *rx, *wo, *big;
	struct sigaction sa;

	test_init(argc, argv);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = segv;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);

	/* a guard region, a stack-like area with a guard page below */
	guard = mmap(NULL, 16 * ZT_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	big = mmap(NULL, 64 * ZT_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	rw = mmap(NULL, NPAGES * ZT_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	rx = mmap(NULL, 4 * ZT_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	wo = mmap(NULL, 4 * ZT_PAGE, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard == MAP_FAILED || big == MAP_FAILED || rw == MAP_FAILED || rx == MAP_FAILED ||
	    wo == MAP_FAILED)
		fail("mmap: %m");
	zt_fill(big + ZT_PAGE, 63 * ZT_PAGE, 0xb16);
	if (mprotect(big, ZT_PAGE, PROT_NONE))
		fail("mprotect: %m");
	/* split rw into r-- / --- / rw- / r-- pieces, with data written first */
	zt_fill(rw, NPAGES * ZT_PAGE, 0x9a9e);
	if (mprotect(rw + 4 * ZT_PAGE, 4 * ZT_PAGE, PROT_READ) ||
	    mprotect(rw + 10 * ZT_PAGE, 2 * ZT_PAGE, PROT_NONE) ||
	    mprotect(rw + 20 * ZT_PAGE, 12 * ZT_PAGE, PROT_READ))
		fail("mprotect: %m");
	/* r-x with code-like data */
	zt_fill(rx, 4 * ZT_PAGE, 0xe8ec);
	if (mprotect(rx, 4 * ZT_PAGE, PROT_READ | PROT_EXEC))
		fail("mprotect: %m");
	/* mlock'ed and dontfork'ed pieces show in smaps VmFlags, not in maps */
	madvise(big + 8 * ZT_PAGE, 4 * ZT_PAGE, MADV_DONTFORK);
	memset(wo, 0x11, 4 * ZT_PAGE);

	read_maps(maps_before, sizeof(maps_before));
	test_ready();
	test_waitsig();
	if (test_self_fail)
		mprotect(rw + 12 * ZT_PAGE, ZT_PAGE, PROT_READ);
	read_maps(maps_after, sizeof(maps_after));

	if (strcmp(maps_before, maps_after)) {
		char *a = maps_before, *b = maps_after;

		while (*a && *b) {
			char *ea = strchrnul(a, '\n'), *eb = strchrnul(b, '\n');

			if (ea - a != eb - b || memcmp(a, b, ea - a)) {
				test_err("/proc/self/maps differs: before \"%.*s\", after \"%.*s\"",
					 (int)(ea - a), a, (int)(eb - b), b);
				break;
			}
			a = *ea ? ea + 1 : ea;
			b = *eb ? eb + 1 : eb;
		}
		if (!test_failed())
			test_err("/proc/self/maps differs in length (%zu vs %zu lines)",
				 strlen(maps_before), strlen(maps_after));
		test_msg("maps before:\n%s", maps_before);
		test_msg("maps after:\n%s", maps_after);
	}
	if (!probe(guard + 3 * ZT_PAGE))
		test_err("PROT_NONE guard region is readable");
	if (!probe(big))
		test_err("PROT_NONE guard page is readable");
	if (!probe(rw + 10 * ZT_PAGE))
		test_err("mprotect(PROT_NONE) page is readable");
	zt_check("data under a guard page", big + ZT_PAGE, 63 * ZT_PAGE, 0xb16);
	mprotect(rw + 10 * ZT_PAGE, 2 * ZT_PAGE, PROT_READ);
	zt_check("split region", rw, NPAGES * ZT_PAGE, 0x9a9e);
	zt_check("r-x region", rx, 4 * ZT_PAGE, 0xe8ec);
	mprotect(wo, 4 * ZT_PAGE, PROT_READ | PROT_WRITE);
	for (int i = 0; i < 4 * (int)ZT_PAGE; i++)
		if (wo[i] != 0x11) {
			test_err("write-only region byte %d is %#x", i, wo[i]);
			break;
		}
	test_result();
}
