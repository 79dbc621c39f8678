/* MAP_SHARED mappings mapped PROT_READ, whose fds are closed: one of a 0600
 * file opened O_RDWR, one of a 0600 file opened O_RDONLY. After restore the
 * first can be mprotect()ed writable and writes reach the file; the second
 * still can't (EACCES): each file is reopened with the mode it had. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ztest.h"

#define LEN (4 * ZT_PAGE)

static unsigned char *map_file(const char *path, uint64_t seed, int oflags)
{
	static unsigned char buf[LEN];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	void *m;

	zt_fill(buf, LEN, seed);
	if (fd < 0 || write(fd, buf, LEN) != LEN)
		fail("write %s: %m", path);
	close(fd);
	fd = open(path, oflags);
	m = mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd, 0);
	if (fd < 0 || m == MAP_FAILED)
		fail("mmap %s: %m", path);
	close(fd);
	return m;
}

int main(int argc, char **argv)
{
	static unsigned char buf[LEN];
	char p_rw[600], p_ro[600];
	unsigned char *rw, *ro;
	int fd;

	test_init(argc, argv);
	snprintf(p_rw, sizeof(p_rw), "%s/rw.file", test_tmpdir());
	snprintf(p_ro, sizeof(p_ro), "%s/ro.file", test_tmpdir());
	rw = map_file(p_rw, 0x3a01, O_RDWR);
	ro = map_file(p_ro, 0x3a02, O_RDONLY);

	test_ready();
	test_waitsig();
	if (test_self_fail) {
		/* what the issue describes: the same mapping from a read-only open */
		fd = open(p_rw, O_RDONLY);
		if (fd < 0 || mmap(rw, LEN, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) != rw)
			test_err("self-test remap: %m");
		close(fd);
	}

	zt_check("mapping of the O_RDWR file", rw, LEN, 0x3a01);
	zt_check("mapping of the O_RDONLY file", ro, LEN, 0x3a02);
	if (mprotect(rw, LEN, PROT_READ | PROT_WRITE))
		test_err("mprotect(PROT_WRITE) on the mapping of the O_RDWR file: %m");
	else {
		zt_fill(rw, LEN, 0x3a03);
		fd = open(p_rw, O_RDONLY);
		if (fd < 0 || pread(fd, buf, LEN, 0) != LEN || zt_verify(buf, LEN, 0x3a03) >= 0)
			test_err("writes through the mapping do not reach the file");
		if (fd >= 0)
			close(fd);
	}
	if (mprotect(ro, LEN, PROT_READ | PROT_WRITE) != -1 || errno != EACCES)
		test_err("mprotect(PROT_WRITE) on the mapping of the O_RDONLY file did not fail with "
			 "EACCES (%m)");
	test_result();
}
