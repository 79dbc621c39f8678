/* Unlinked files that are only mapped (their fds closed): one MAP_SHARED
 * twice (the whole file, and its second half), one MAP_PRIVATE with COW pages.
 * After restore: contents, the maps path "PATH (deleted)", the files still
 * unlinked (nlink 0 through /proc/self/map_files), the two shared views one
 * file, the COW pages not in the file. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ztest.h"

#define NP 8
#define LEN (NP * ZT_PAGE)

static char p_sh[600], p_pr[600];
static unsigned char *v1, *v2, *pv;

static unsigned char *map_file(const char *path, uint64_t seed, int flags, off_t off, size_t len)
{
	static unsigned char buf[LEN];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	void *m;

	zt_fill(buf, LEN, seed);
	if (fd < 0 || write(fd, buf, LEN) != LEN)
		fail("write %s: %m", path);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, off);
	if (m == MAP_FAILED)
		fail("mmap: %m");
	close(fd);
	return m;
}

/* the path of the mapping at addr in /proc/self/maps */
static void maps_path(void *addr, char *out, size_t len)
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

/* an fd on the file behind a mapping */
static int map_fd(void *addr, size_t len)
{
	char p[128];

	snprintf(p, sizeof(p), "/proc/self/map_files/%lx-%lx", (unsigned long)addr,
		 (unsigned long)addr + len);
	return open(p, O_RDONLY);
}

static void check_file(const char *what, void *addr, size_t len, const char *path)
{
	char want[700], got[700];
	struct stat st;
	int fd;

	snprintf(want, sizeof(want), "%s (deleted)", path);
	maps_path(addr, got, sizeof(got));
	if (strcmp(got, want))
		test_err("%s: maps path '%s', want '%s'", what, got, want);
	if (access(path, F_OK) == 0)
		test_err("%s: %s exists again", what, path);
	fd = map_fd(addr, len);
	if (fd < 0 || fstat(fd, &st) || st.st_nlink != 0 || st.st_size != LEN)
		test_err("%s: the file behind it is not an unlinked %lu-byte file (%m)", what, LEN);
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	static unsigned char buf[LEN];
	int fd;

	test_init(argc, argv);
	snprintf(p_sh, sizeof(p_sh), "%s/ghost.shared", test_tmpdir());
	snprintf(p_pr, sizeof(p_pr), "%s/ghost.private", test_tmpdir());
	v1 = map_file(p_sh, 0x6a01, MAP_SHARED, 0, LEN);
	fd = open(p_sh, O_RDWR);
	v2 = mmap(NULL, LEN / 2, PROT_READ | PROT_WRITE, MAP_SHARED, fd, LEN / 2);
	if (fd < 0 || v2 == MAP_FAILED)
		fail("mmap: %m");
	close(fd);
	pv = map_file(p_pr, 0x6a02, MAP_PRIVATE, 0, LEN);
	zt_fill(pv + 2 * ZT_PAGE, 2 * ZT_PAGE, 0x6a03); /* COW pages */
	unlink(p_sh);
	unlink(p_pr);

	test_ready();
	test_waitsig();
	if (test_self_fail)
		v2[0] ^= 1;

	check_file("shared view", v1, LEN, p_sh);
	check_file("private mapping", pv, LEN, p_pr);
	zt_check("shared view 1", v1, LEN, 0x6a01);
	if (memcmp(v2, v1 + LEN / 2, LEN / 2))
		test_err("the second shared view differs from the first");
	v1[LEN / 2 + 100] ^= 0xff;
	if (v2[100] != v1[LEN / 2 + 100])
		test_err("the two shared views are not one file any more");
	v1[LEN / 2 + 100] ^= 0xff;
	fd = map_fd(v1, LEN);
	if (fd < 0 || pread(fd, buf, LEN, 0) != LEN || memcmp(buf, v1, LEN))
		test_err("the shared views are not the file's contents");
	if (fd >= 0)
		close(fd);

	zt_check("private mapping, pages 0-1", pv, 2 * ZT_PAGE, 0x6a02);
	zt_check("private mapping, COW pages", pv + 2 * ZT_PAGE, 2 * ZT_PAGE, 0x6a03);
	fd = map_fd(pv, LEN);
	if (fd < 0 || pread(fd, buf, LEN, 0) != LEN || zt_verify(buf, LEN, 0x6a02) >= 0)
		test_err("the private mapping's file changed (COW pages written to it?)");
	else if (memcmp(pv + 4 * ZT_PAGE, buf + 4 * ZT_PAGE, LEN - 4 * ZT_PAGE))
		test_err("the private mapping's untouched pages differ from its file");
	test_result();
}
