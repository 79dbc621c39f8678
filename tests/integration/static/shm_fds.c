/* Shared memory behind fds and mappings: a memfd with seals (F_SEAL_SHRINK,
 * F_SEAL_GROW) held open and mapped; a /dev/zero MAP_SHARED region reopened as
 * an fd through /proc/self/map_files (fd and mapping one object); a memfd
 * mapped after its fd was closed (only the mapping holds it). After restore:
 * contents, names, sizes, seals, and each fd still shares pages with its
 * mapping. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ztest.h"

#define LEN (16 * ZT_PAGE)

static void maps_name(void *addr, char *out, size_t len)
{
	char *s = zt_read_file("/proc/self/maps", NULL), *l;
	char key[32];

	out[0] = 0;
	snprintf(key, sizeof(key), "%lx-", (unsigned long)addr);
	for (l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, key, strlen(key))) {
			char *p = strchr(l, '/');

			if (p)
				snprintf(out, len, "%.*s", (int)strcspn(p, "\n"), p);
			break;
		}
	free(s);
}

static void fd_link(int fd, char *out, size_t len)
{
	char p[64];
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	n = readlink(p, out, len - 1);
	out[n > 0 ? n : 0] = 0;
}

/* fd and mapping one object: a write through either is seen by the other */
static void check_shared(const char *what, int fd, unsigned char *map)
{
	unsigned char b = 0;

	map[3 * ZT_PAGE + 7] ^= 0x5a;
	if (pread(fd, &b, 1, 3 * ZT_PAGE + 7) != 1 || b != map[3 * ZT_PAGE + 7])
		test_err("%s: a write to the mapping is not seen through the fd", what);
	b ^= 0x5a;
	if (pwrite(fd, &b, 1, 3 * ZT_PAGE + 7) != 1 || map[3 * ZT_PAGE + 7] != b)
		test_err("%s: a write through the fd is not seen in the mapping", what);
}

int main(int argc, char **argv)
{
	unsigned char *m_seal, *m_zero, *m_gone;
	int fd_seal, fd_zero, fd, seals;
	char link_zero[256], name_gone[256], now[256], p[128];

	test_init(argc, argv);
	/* a sealed memfd, open and mapped */
	fd_seal = memfd_create("zt-sealed", MFD_ALLOW_SEALING);
	if (fd_seal < 0 || ftruncate(fd_seal, LEN))
		fail("memfd: %m");
	m_seal = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd_seal, 0);
	if (m_seal == MAP_FAILED)
		fail("mmap: %m");
	zt_fill(m_seal, LEN, 0x5ea1);
	if (fcntl(fd_seal, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		fail("F_ADD_SEALS: %m");
	seals = fcntl(fd_seal, F_GET_SEALS);

	/* /dev/zero shared, then an fd on the same object */
	fd = open("/dev/zero", O_RDWR);
	m_zero = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fd < 0 || m_zero == MAP_FAILED)
		fail("mmap /dev/zero: %m");
	close(fd);
	zt_fill(m_zero, LEN, 0x2e60);
	snprintf(p, sizeof(p), "/proc/self/map_files/%lx-%lx", (unsigned long)m_zero,
		 (unsigned long)m_zero + LEN);
	fd_zero = open(p, O_RDWR);
	if (fd_zero < 0)
		fail("open %s: %m", p);
	fd_link(fd_zero, link_zero, sizeof(link_zero));

	/* a memfd whose fd is closed: only the mapping holds it */
	fd = memfd_create("zt-gone", 0);
	if (fd < 0 || ftruncate(fd, LEN))
		fail("memfd: %m");
	m_gone = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m_gone == MAP_FAILED)
		fail("mmap: %m");
	close(fd);
	zt_fill(m_gone, LEN, 0x6011e);
	maps_name(m_gone, name_gone, sizeof(name_gone));

	test_ready();
	test_waitsig();
	if (test_self_fail)
		m_zero[5] ^= 1;

	/* the sealed memfd */
	zt_check("sealed memfd", m_seal, LEN, 0x5ea1);
	fd_link(fd_seal, now, sizeof(now));
	if (strcmp(now, "/memfd:zt-sealed (deleted)"))
		test_err("sealed memfd: fd links to '%s'", now);
	if (fcntl(fd_seal, F_GET_SEALS) != seals)
		test_err("sealed memfd: seals %#x, were %#x", fcntl(fd_seal, F_GET_SEALS), seals);
	if (ftruncate(fd_seal, LEN / 2) != -1 || errno != EPERM)
		test_err("sealed memfd: shrinking it did not fail with EPERM (%m)");
	check_shared("sealed memfd", fd_seal, m_seal);

	/* /dev/zero */
	zt_check("/dev/zero shared mapping", m_zero, LEN, 0x2e60);
	fd_link(fd_zero, now, sizeof(now));
	if (strcmp(now, link_zero))
		test_err("/dev/zero fd links to '%s', was '%s'", now, link_zero);
	{
		struct stat st;

		if (fstat(fd_zero, &st) || st.st_size != LEN || !S_ISREG(st.st_mode))
			test_err("/dev/zero fd: size %lld, want %lu", (long long)st.st_size, LEN);
	}
	check_shared("/dev/zero fd and mapping", fd_zero, m_zero);

	/* the memfd only mapped */
	zt_check("memfd whose fd was closed", m_gone, LEN, 0x6011e);
	maps_name(m_gone, now, sizeof(now));
	if (strcmp(now, name_gone))
		test_err("memfd whose fd was closed: maps name '%s', was '%s'", now, name_gone);
	test_result();
}
