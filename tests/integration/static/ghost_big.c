/* An unlinked file of 3 MiB + 123 bytes held open (O_RDWR, offset 2 MiB),
 * more than the default --ghost-limit (1 MiB): a dump must refuse it unless the
 * limit is raised; restored, it is the same unlinked file (size, contents,
 * offset, flags) and still writable. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ztest.h"

#define SIZE (3 * 1024 * 1024 + 123)
#define POS (2 * 1024 * 1024)

int main(int argc, char **argv)
{
	char path[600];
	unsigned char *buf = malloc(SIZE);
	struct stat st;
	int fd, fl;

	test_init(argc, argv);
	if (!buf)
		fail("malloc");
	snprintf(path, sizeof(path), "%s/ghost.big", test_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0640);
	zt_fill(buf, SIZE, 0xb16);
	if (fd < 0 || write(fd, buf, SIZE) != SIZE)
		fail("write %s: %m", path);
	lseek(fd, POS, SEEK_SET);
	unlink(path);
	fl = fcntl(fd, F_GETFL);

	test_ready();
	test_waitsig();
	if (test_self_fail && pwrite(fd, "x", 1, SIZE / 2) != 1)
		test_err("self-test write: %m");

	if (fstat(fd, &st) || st.st_nlink != 0 || st.st_size != SIZE || (st.st_mode & 07777) != 0640)
		test_err("not an unlinked %d-byte file with mode 0640 (nlink %lu, size %lld, mode %o)", SIZE,
			 (unsigned long)st.st_nlink, (long long)st.st_size, st.st_mode & 07777);
	if (access(path, F_OK) == 0)
		test_err("%s exists again", path);
	if (fcntl(fd, F_GETFL) != fl || lseek(fd, 0, SEEK_CUR) != POS)
		test_err("flags %#o offset %lld, were %#o %d", fcntl(fd, F_GETFL),
			 (long long)lseek(fd, 0, SEEK_CUR), fl, POS);
	if (pread(fd, buf, SIZE, 0) != SIZE)
		test_err("short read: %m");
	else
		zt_check("contents", buf, SIZE, 0xb16);
	if (write(fd, "new", 3) != 3 || pread(fd, buf, 3, POS) != 3 || buf[0] != 'n')
		test_err("not writable at its offset: %m");
	test_result();
}
