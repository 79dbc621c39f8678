/* Shared file mappings of a regular file: writes made through the mapping
 * before the dump are in the file; after restore, writes through the mapping
 * reach the file, writes to the file show in the mapping, and two overlapping
 * shared mappings of it still see each other. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ztest.h"

#define NPAGES 16

static char path[4096];

int main(int argc, char **argv)
{
	static unsigned char page[ZT_PAGE];
	unsigned char *a, *b;
	int fd;

	test_init(argc, argv);
	snprintf(path, sizeof(path), "%s/file_shared.data", test_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		fail("open %s: %m", path);
	for (int i = 0; i < NPAGES; i++) {
		zt_fill(page, ZT_PAGE, 0x5100 + i);
		if (write(fd, page, ZT_PAGE) != ZT_PAGE)
			fail("write: %m");
	}
	a = mmap(NULL, NPAGES * ZT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	/* b overlaps a's pages 8..15 */
	b = mmap(NULL, 8 * ZT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 8 * ZT_PAGE);
	if (a == MAP_FAILED || b == MAP_FAILED)
		fail("mmap: %m");
	close(fd);
	for (int i = 2; i < 6; i++)
		zt_fill(a + i * ZT_PAGE, ZT_PAGE, 0x5200 + i);
	zt_fill(b + 3 * ZT_PAGE, ZT_PAGE, 0x5300); /* = a's page 11 */

	test_ready();
	test_waitsig();

	fd = open(path, O_RDWR);
	if (fd < 0)
		fail("reopen %s: %m", path);
	if (test_self_fail)
		a[3 * ZT_PAGE] ^= 1;
	for (int i = 0; i < NPAGES; i++) {
		uint64_t seed = i >= 2 && i < 6 ? 0x5200 + i : i == 11 ? 0x5300 : 0x5100 + i;
		char w[64];

		snprintf(w, sizeof(w), "mapping page %d", i);
		zt_check(w, a + i * ZT_PAGE, ZT_PAGE, seed);
		if (pread(fd, page, ZT_PAGE, i * ZT_PAGE) != ZT_PAGE) {
			test_err("pread: %m");
			break;
		}
		snprintf(w, sizeof(w), "file page %d", i);
		zt_check(w, page, ZT_PAGE, seed);
	}
	zt_check("second mapping page 3", b + 3 * ZT_PAGE, ZT_PAGE, 0x5300);
	/* mapping -> file */
	zt_fill(a + 7 * ZT_PAGE, ZT_PAGE, 0x5400);
	if (pread(fd, page, ZT_PAGE, 7 * ZT_PAGE) != ZT_PAGE)
		test_err("pread: %m");
	zt_check("file after a write through the mapping", page, ZT_PAGE, 0x5400);
	/* file -> mapping */
	zt_fill(page, ZT_PAGE, 0x5500);
	if (pwrite(fd, page, ZT_PAGE, 9 * ZT_PAGE) != ZT_PAGE)
		test_err("pwrite: %m");
	zt_check("mapping after pwrite to the file", a + 9 * ZT_PAGE, ZT_PAGE, 0x5500);
	zt_check("second mapping after pwrite to the file", b + 1 * ZT_PAGE, ZT_PAGE, 0x5500);
	/* mapping a -> mapping b and back */
	zt_fill(a + 12 * ZT_PAGE, ZT_PAGE, 0x5600);
	zt_check("b sees a write through a", b + 4 * ZT_PAGE, ZT_PAGE, 0x5600);
	zt_fill(b + 5 * ZT_PAGE, ZT_PAGE, 0x5700);
	zt_check("a sees a write through b", a + 13 * ZT_PAGE, ZT_PAGE, 0x5700);
	close(fd);
	unlink(path);
	test_result();
}
