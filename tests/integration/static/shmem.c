/* Shmem-backed memory:
 *  - a memfd mapped twice (fd closed): each view sees the other's writes after
 *    restore, both directions; a sparse part (holes must read zero);
 *  - a memfd whose fd stays open and is mapped: fd writes show in the mapping;
 *  - MAP_SHARED|MAP_ANONYMOUS, with a second view made by mremap(old_size=0);
 *  - a /dev/shm file mapped shared (file reads see mapping writes);
 *  - an unlinked /dev/shm file mapped twice. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ztest.h"

#define MFD_PAGES 64
#define ANON_PAGES 16
#define SHM_PAGES 8

static unsigned char *m1a, *m1b, *m2, *sa, *sb, *f1, *u1, *u2;
static int m2fd = -1;
static char shm_path[256], shm_unlinked[256];

static uint64_t mfd_seed(int i)
{
	return 0x3e300 + i;
}

/* memfd page i is written unless it is in the hole 8..39 or 56..63 */
static int mfd_written(int i)
{
	return i < 8 || (i >= 40 && i < 56);
}

static unsigned char *map_fd(int fd, size_t len)
{
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		fail("mmap: %m");
	return p;
}

static int shm_file(const char *path, size_t len)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		fail("open %s: %m", path);
	if (ftruncate(fd, len))
		fail("ftruncate: %m");
	return fd;
}

static void pages(const char *what, unsigned char *p, int from, int to, uint64_t seed0)
{
	char w[128];

	for (int i = from; i < to; i++) {
		snprintf(w, sizeof(w), "%s page %d", what, i);
		zt_check(w, p + i * ZT_PAGE, ZT_PAGE, seed0 ? seed0 + i : 0);
	}
}

static void cross(const char *what, unsigned char *x, unsigned char *y, int page, uint64_t seed)
{
	char w[128];

	zt_fill(x + page * ZT_PAGE, ZT_PAGE, seed);
	snprintf(w, sizeof(w), "%s: page %d written through one view, read through the other",
		 what, page);
	zt_check(w, y + page * ZT_PAGE, ZT_PAGE, seed);
}

int main(int argc, char **argv)
{
	static unsigned char buf[ZT_PAGE];
	int fd;

	test_init(argc, argv);

	/* memfd 1: two views, fd closed, sparse */
	fd = memfd_create("zt-shmem-1", 0);
	if (fd < 0)
		fail("memfd_create: %m");
	if (ftruncate(fd, MFD_PAGES * ZT_PAGE))
		fail("ftruncate: %m");
	m1a = map_fd(fd, MFD_PAGES * ZT_PAGE);
	m1b = map_fd(fd, MFD_PAGES * ZT_PAGE);
	close(fd);
	for (int i = 0; i < MFD_PAGES; i++)
		if (mfd_written(i))
			zt_fill((i & 1 ? m1a : m1b) + i * ZT_PAGE, ZT_PAGE, mfd_seed(i));

	/* memfd 2: fd kept, mapped once, partly written through the fd */
	m2fd = memfd_create("zt-shmem-2", MFD_CLOEXEC);
	if (m2fd < 0 || ftruncate(m2fd, 8 * ZT_PAGE))
		fail("memfd 2: %m");
	m2 = map_fd(m2fd, 8 * ZT_PAGE);
	zt_fill(m2, 4 * ZT_PAGE, 0x3e500);
	zt_fill(buf, ZT_PAGE, 0x3e600);
	if (pwrite(m2fd, buf, ZT_PAGE, 5 * ZT_PAGE) != ZT_PAGE)
		fail("pwrite: %m");

	/* shared anonymous, two views */
	sa = mmap(NULL, ANON_PAGES * ZT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sa == MAP_FAILED)
		fail("mmap shared anon: %m");
	sb = mremap(sa, 0, ANON_PAGES * ZT_PAGE, MREMAP_MAYMOVE);
	if (sb == MAP_FAILED)
		fail("mremap (second view): %m");
	for (int i = 0; i < ANON_PAGES - 4; i++) /* the last 4 pages stay holes */
		zt_fill(sa + i * ZT_PAGE, ZT_PAGE, 0x5a000 + i);

	/* /dev/shm file, kept */
	snprintf(shm_path, sizeof(shm_path), "/dev/shm/zt-shmem-%d", (int)getpid());
	fd = shm_file(shm_path, SHM_PAGES * ZT_PAGE);
	f1 = map_fd(fd, SHM_PAGES * ZT_PAGE);
	close(fd);
	for (int i = 0; i < SHM_PAGES; i++)
		zt_fill(f1 + i * ZT_PAGE, ZT_PAGE, 0xf1000 + i);

	/* /dev/shm file, unlinked, two views */
	snprintf(shm_unlinked, sizeof(shm_unlinked), "/dev/shm/zt-shmemu-%d", (int)getpid());
	fd = shm_file(shm_unlinked, SHM_PAGES * ZT_PAGE);
	u1 = map_fd(fd, SHM_PAGES * ZT_PAGE);
	u2 = map_fd(fd, SHM_PAGES * ZT_PAGE);
	close(fd);
	unlink(shm_unlinked);
	for (int i = 0; i < SHM_PAGES; i++)
		zt_fill(u1 + i * ZT_PAGE, ZT_PAGE, 0xf2000 + i);

	test_ready();
	test_waitsig();
	if (test_self_fail)
		m1b[41 * ZT_PAGE + 1] ^= 1;

	/* contents */
	for (int i = 0; i < MFD_PAGES; i++) {
		char w[64];

		snprintf(w, sizeof(w), "memfd view A page %d", i);
		zt_check(w, m1a + i * ZT_PAGE, ZT_PAGE, mfd_written(i) ? mfd_seed(i) : 0);
		snprintf(w, sizeof(w), "memfd view B page %d", i);
		zt_check(w, m1b + i * ZT_PAGE, ZT_PAGE, mfd_written(i) ? mfd_seed(i) : 0);
	}
	zt_check("memfd 2 mapping", m2, 4 * ZT_PAGE, 0x3e500);
	zt_check("memfd 2 page written with pwrite", m2 + 5 * ZT_PAGE, ZT_PAGE, 0x3e600);
	zt_check("memfd 2 hole", m2 + 4 * ZT_PAGE, ZT_PAGE, 0);
	pages("shared anon view A", sa, 0, ANON_PAGES - 4, 0x5a000);
	pages("shared anon view B", sb, 0, ANON_PAGES - 4, 0x5a000);
	pages("shared anon hole", sb, ANON_PAGES - 4, ANON_PAGES, 0);
	pages("/dev/shm mapping", f1, 0, SHM_PAGES, 0xf1000);
	pages("unlinked /dev/shm view 1", u1, 0, SHM_PAGES, 0xf2000);
	pages("unlinked /dev/shm view 2", u2, 0, SHM_PAGES, 0xf2000);

	/* still shared, both directions, incl. pages that were holes */
	cross("memfd A->B", m1a, m1b, 2, 0x71);
	cross("memfd B->A", m1b, m1a, 3, 0x72);
	cross("memfd A->B (hole)", m1a, m1b, 20, 0x73);
	cross("memfd B->A (hole)", m1b, m1a, 60, 0x74);
	cross("shared anon A->B", sa, sb, 1, 0x75);
	cross("shared anon B->A (hole)", sb, sa, ANON_PAGES - 1, 0x76);
	cross("unlinked /dev/shm 1->2", u1, u2, 0, 0x77);
	cross("unlinked /dev/shm 2->1", u2, u1, 7, 0x78);

	/* memfd 2: fd and mapping are one object */
	zt_fill(buf, ZT_PAGE, 0x79);
	if (pwrite(m2fd, buf, ZT_PAGE, 6 * ZT_PAGE) != ZT_PAGE)
		test_err("pwrite memfd 2: %m");
	zt_check("memfd 2 mapping after pwrite", m2 + 6 * ZT_PAGE, ZT_PAGE, 0x79);
	zt_fill(m2 + 7 * ZT_PAGE, ZT_PAGE, 0x7a);
	if (pread(m2fd, buf, ZT_PAGE, 7 * ZT_PAGE) != ZT_PAGE)
		test_err("pread memfd 2: %m");
	zt_check("memfd 2 fd after a mapping write", buf, ZT_PAGE, 0x7a);

	/* /dev/shm file by path */
	fd = open(shm_path, O_RDWR);
	if (fd < 0) {
		test_err("open %s: %m", shm_path);
	} else {
		zt_fill(f1 + 2 * ZT_PAGE, ZT_PAGE, 0x7b);
		if (pread(fd, buf, ZT_PAGE, 2 * ZT_PAGE) != ZT_PAGE)
			test_err("pread: %m");
		zt_check("/dev/shm file after a mapping write", buf, ZT_PAGE, 0x7b);
		if (pread(fd, buf, ZT_PAGE, 3 * ZT_PAGE) != ZT_PAGE)
			test_err("pread: %m");
		zt_check("/dev/shm file page 3", buf, ZT_PAGE, 0xf1000 + 3);
		close(fd);
	}
	unlink(shm_path);
	test_result();
}
