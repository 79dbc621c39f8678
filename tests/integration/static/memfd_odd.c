/* A memfd of 5 bytes (not a page multiple), held open at offset 3 and mapped
 * MAP_SHARED over 2 pages, with a byte written past its end inside the first
 * page. After restore: size 5, contents, offset, the mapping shows the 5 bytes,
 * the zeroed rest of the page and that byte; the second page still gives
 * SIGBUS; fd and mapping still share the page. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ztest.h"

static sigjmp_buf jb;

static void on_bus(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

static int sigbus(volatile unsigned char *p)
{
	if (sigsetjmp(jb, 1))
		return 1;
	(void)*p;
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_bus };
	unsigned char *m, want[ZT_PAGE];
	char buf[16], link[64], path[64];
	struct stat st;
	ssize_t n;
	int fd;

	test_init(argc, argv);
	sigaction(SIGBUS, &sa, NULL);
	fd = memfd_create("zt-five", 0);
	if (fd < 0 || write(fd, "hello", 5) != 5 || lseek(fd, 3, SEEK_SET) != 3)
		fail("memfd: %m");
	m = mmap(NULL, 2 * ZT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		fail("mmap: %m");
	m[100] = 0x77; /* past the end, inside the page */
	memset(want, 0, sizeof(want));
	memcpy(want, "hello", 5);
	want[100] = 0x77;
	if (!sigbus(m + ZT_PAGE))
		fail("the page past the end does not give SIGBUS here");

	test_ready();
	test_waitsig();
	if (test_self_fail && ftruncate(fd, 6))
		test_err("self-test ftruncate: %m");

	if (fstat(fd, &st) || st.st_size != 5)
		test_err("size %lld, want 5", (long long)st.st_size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	if (strcmp(link, "/memfd:zt-five (deleted)"))
		test_err("fd links to '%s'", link);
	if (lseek(fd, 0, SEEK_CUR) != 3)
		test_err("offset %lld, want 3", (long long)lseek(fd, 0, SEEK_CUR));
	memset(buf, 0, sizeof(buf));
	if (pread(fd, buf, sizeof(buf), 0) != 5 || memcmp(buf, "hello", 5))
		test_err("contents '%.5s', want 'hello'", buf);
	if (memcmp(m, want, ZT_PAGE))
		test_err("the mapped page differs (bytes 0-4, the zeroed tail, the byte at 100)");
	if (!sigbus(m + ZT_PAGE))
		test_err("the page past the end does not give SIGBUS");
	m[1] = 'a';
	if (pread(fd, buf, 5, 0) != 5 || memcmp(buf, "hallo", 5))
		test_err("the mapping and the fd do not share the page");
	test_result();
}
