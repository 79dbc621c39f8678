/* Unlinked ("ghost") regular files: an fd on a file unlinked after it was
 * written (contents, offset, flags), and a MAP_SHARED mapping of another
 * unlinked file (still shared with its fd after restore). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ztest.h"

int main(int argc, char **argv)
{
	static unsigned char buf[16 * 4096];
	char p1[600], p2[600];
	unsigned char *map;
	int fd1, fd2, fl1;
	off_t pos1;

	test_init(argc, argv);
	snprintf(p1, sizeof(p1), "%s/ghost1", test_tmpdir());
	snprintf(p2, sizeof(p2), "%s/ghost2", test_tmpdir());
	fd1 = open(p1, O_RDWR | O_CREAT | O_TRUNC, 0600);
	fd2 = open(p2, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd1 < 0 || fd2 < 0)
		fail("open: %m");
	zt_fill(buf, sizeof(buf), 0x6057);
	if (write(fd1, buf, 10000) != 10000 || ftruncate(fd2, 8 * 4096))
		fail("write: %m");
	lseek(fd1, 3333, SEEK_SET);
	map = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
	if (map == MAP_FAILED)
		fail("mmap: %m");
	zt_fill(map, 8 * 4096, 0x6058);
	unlink(p1);
	unlink(p2);
	fl1 = fcntl(fd1, F_GETFL);
	pos1 = lseek(fd1, 0, SEEK_CUR);

	test_ready();
	test_waitsig();
	if (test_self_fail)
		lseek(fd1, 1, SEEK_CUR);

	{
		struct stat st;

		if (fstat(fd1, &st) || st.st_nlink != 0 || st.st_size != 10000)
			test_err("fd %d: nlink %lu size %lld (want an unlinked 10000-byte file)", fd1,
				 (unsigned long)st.st_nlink, (long long)st.st_size);
	}
	if (fcntl(fd1, F_GETFL) != fl1)
		test_err("flags changed");
	if (lseek(fd1, 0, SEEK_CUR) != pos1)
		test_err("offset %lld, was %lld", (long long)lseek(fd1, 0, SEEK_CUR), (long long)pos1);
	memset(buf, 0, sizeof(buf));
	if (pread(fd1, buf, 10000, 0) != 10000 || zt_verify(buf, 10000, 0x6057) >= 0)
		test_err("unlinked file contents differ");
	if (access(p1, F_OK) == 0)
		test_err("%s exists again", p1);
	zt_check("mapping of an unlinked file", map, 8 * 4096, 0x6058);
	zt_fill(map, 4096, 0x6059);
	if (pread(fd2, buf, 4096, 0) != 4096 || zt_verify(buf, 4096, 0x6059) >= 0)
		test_err("mapping and fd of the unlinked file are not shared any more");
	test_result();
}
