/* Private file mappings: a file made by the test, mapped MAP_PRIVATE read-write
 * (some pages written -> COW copies, some only read, some untouched), a
 * read-only private mapping at an offset, and one that is read-only now but
 * was written before mprotect. Untouched/read pages must equal the file, COW
 * pages their private data, and the file itself must be unchanged. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ztest.h"

#define NPAGES 32
#define FILE_SEED(i) (0xf11e0000ULL + (i))
#define COW_SEED(i) (0xc0c0000ULL + (i))

static char path[4096];
static unsigned char *rw, *ro, *rw2;

static int is_cow(int i)
{
	return i % 4 == 1 || i == NPAGES - 1;
}

static int check_file_page(const char *what, const unsigned char *p, int i)
{
	char w[128];

	snprintf(w, sizeof(w), "%s page %d", what, i);
	return zt_check(w, p, ZT_PAGE, FILE_SEED(i));
}

int main(int argc, char **argv)
{
	static unsigned char page[ZT_PAGE];
	volatile unsigned char sink = 0;
	int fd;

	test_init(argc, argv);
	snprintf(path, sizeof(path), "%s/file_private.data", test_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		fail("open %s: %m", path);
	for (int i = 0; i < NPAGES; i++) {
		zt_fill(page, ZT_PAGE, FILE_SEED(i));
		if (write(fd, page, ZT_PAGE) != ZT_PAGE)
			fail("write: %m");
	}
	rw = mmap(NULL, NPAGES * ZT_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ro = mmap(NULL, 8 * ZT_PAGE, PROT_READ, MAP_PRIVATE, fd, 4 * ZT_PAGE);
	rw2 = mmap(NULL, 8 * ZT_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 8 * ZT_PAGE);
	if (rw == MAP_FAILED || ro == MAP_FAILED || rw2 == MAP_FAILED)
		fail("mmap: %m");
	close(fd); /* only the mappings refer to the file now */
	for (int i = 0; i < NPAGES; i++) {
		if (is_cow(i))
			zt_fill(rw + i * ZT_PAGE, ZT_PAGE, COW_SEED(i));
		else if (i % 4 == 2)
			sink += rw[i * ZT_PAGE + 7]; /* read: file-backed page */
		/* else untouched */
	}
	sink += ro[5];
	/* rw2: COW one page, then make the mapping read-only */
	zt_fill(rw2 + 2 * ZT_PAGE, ZT_PAGE, 0xabc);
	if (mprotect(rw2, 8 * ZT_PAGE, PROT_READ))
		fail("mprotect: %m");
	(void)sink;

	test_ready();
	test_waitsig();
	if (test_self_fail)
		rw[ZT_PAGE * 5 + 9] ^= 1;

	for (int i = 0; i < NPAGES; i++) {
		char w[64];

		snprintf(w, sizeof(w), "COW page %d", i);
		if (is_cow(i))
			zt_check(w, rw + i * ZT_PAGE, ZT_PAGE, COW_SEED(i));
		else
			check_file_page("private rw mapping", rw + i * ZT_PAGE, i);
	}
	for (int i = 0; i < 8; i++)
		check_file_page("private ro mapping (offset 4 pages)", ro + i * ZT_PAGE, 4 + i);
	for (int i = 0; i < 8; i++) {
		if (i == 2)
			zt_check("mprotect'ed COW page", rw2 + i * ZT_PAGE, ZT_PAGE, 0xabc);
		else
			check_file_page("mprotect'ed private mapping", rw2 + i * ZT_PAGE, 8 + i);
	}
	/* the file on disk never saw the private writes */
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		test_err("reopen %s: %m", path);
	} else {
		for (int i = 0; i < NPAGES; i++) {
			if (pread(fd, page, ZT_PAGE, i * ZT_PAGE) != ZT_PAGE) {
				test_err("pread page %d: %m", i);
				break;
			}
			check_file_page("file on disk", page, i);
		}
		close(fd);
	}
	/* still private: a new write must not reach the file or other mappings */
	memset(rw + 4 * ZT_PAGE, 0x33, ZT_PAGE);
	check_file_page("ro mapping after a private write", ro, 4);
	unlink(path);
	test_result();
}
