/* FIFOs by path: one opened O_RDONLY|O_NONBLOCK and O_WRONLY with 3000 bytes
 * queued, one opened O_RDWR with 500 bytes queued, one with a reader only.
 * After restore each fd is the FIFO at its path (same inode; a new opener of
 * the path shares its buffer), with its flags and its data. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ztest.h"

#define KERNEL_O_LARGEFILE 0100000 /* set by open() on 64-bit; glibc's O_LARGEFILE is 0 */
#define F1_DATA 3000
#define F2_DATA 500

static char path[3][600];

static int queued(int fd)
{
	int n = -1;

	ioctl(fd, FIONREAD, &n);
	return n;
}

static void check_fd(const char *what, int fd, const char *p, int flags)
{
	char proc[64], link[700];
	struct stat a, b;
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	if (strcmp(link, p))
		test_err("%s: fd %d links to '%s', want '%s'", what, fd, link, p);
	if (fstat(fd, &a) || stat(p, &b) || !S_ISFIFO(a.st_mode) || a.st_ino != b.st_ino ||
	    a.st_dev != b.st_dev)
		test_err("%s: fd %d is not the FIFO %s", what, fd, p);
	if ((fcntl(fd, F_GETFL) & ~KERNEL_O_LARGEFILE) != flags)
		test_err("%s: fd %d flags %#o, want %#o", what, fd, fcntl(fd, F_GETFL), flags);
}

int main(int argc, char **argv)
{
	static unsigned char buf[8192];
	int r1, w1, rw2, r3, fd;

	test_init(argc, argv);
	for (int i = 0; i < 3; i++) {
		snprintf(path[i], sizeof(path[i]), "%s/fifo%d", test_tmpdir(), i + 1);
		if (mkfifo(path[i], 0600))
			fail("mkfifo %s: %m", path[i]);
	}
	r1 = open(path[0], O_RDONLY | O_NONBLOCK);
	w1 = open(path[0], O_WRONLY);
	rw2 = open(path[1], O_RDWR);
	r3 = open(path[2], O_RDONLY | O_NONBLOCK);
	if (r1 < 0 || w1 < 0 || rw2 < 0 || r3 < 0)
		fail("open: %m");
	zt_fill(buf, F1_DATA, 0xf1f0);
	if (write(w1, buf, F1_DATA) != F1_DATA)
		fail("write: %m");
	zt_fill(buf, F2_DATA, 0xf2f0);
	if (write(rw2, buf, F2_DATA) != F2_DATA)
		fail("write: %m");

	test_ready();
	test_waitsig();
	if (test_self_fail && read(r1, buf, 1) != 1)
		test_err("self-test read: %m");

	check_fd("fifo1 reader", r1, path[0], O_RDONLY | O_NONBLOCK);
	check_fd("fifo1 writer", w1, path[0], O_WRONLY);
	check_fd("fifo2 read-write", rw2, path[1], O_RDWR);
	check_fd("fifo3 reader", r3, path[2], O_RDONLY | O_NONBLOCK);

	if (queued(r1) != F1_DATA)
		test_err("fifo1: %d bytes queued, want %d", queued(r1), F1_DATA);
	memset(buf, 0, sizeof(buf));
	if (read(r1, buf, sizeof(buf)) != F1_DATA || zt_verify(buf, F1_DATA, 0xf1f0) >= 0)
		test_err("fifo1: the queued data differs");
	if (read(r1, buf, 1) != -1 || errno != EAGAIN)
		test_err("fifo1: empty, with a writer: read did not give EAGAIN (%m)");
	/* the writer writes into the FIFO at that path: a new reader of the path sees it */
	fd = open(path[0], O_RDONLY | O_NONBLOCK);
	if (fd < 0 || write(w1, "new", 3) != 3 || read(fd, buf, 8) != 3 || memcmp(buf, "new", 3))
		test_err("fifo1: a new reader of the path does not get what the writer writes");
	if (fd >= 0)
		close(fd);

	if (queued(rw2) != F2_DATA)
		test_err("fifo2: %d bytes queued, want %d", queued(rw2), F2_DATA);
	if (read(rw2, buf, F2_DATA) != F2_DATA || zt_verify(buf, F2_DATA, 0xf2f0) >= 0)
		test_err("fifo2: the queued data differs");
	if (write(rw2, "rw", 2) != 2 || read(rw2, buf, 2) != 2 || memcmp(buf, "rw", 2))
		test_err("fifo2: does not carry new data");

	/* a reader without a writer: EOF, and the path has a reader (no ENXIO) */
	if (read(r3, buf, 1) != 0)
		test_err("fifo3: a read without writers did not return EOF (%m)");
	fd = open(path[2], O_WRONLY | O_NONBLOCK);
	if (fd < 0)
		test_err("fifo3: opening the path for writing: %m (no reader on it)");
	else if (write(fd, "w", 1) != 1 || read(r3, buf, 1) != 1 || buf[0] != 'w')
		test_err("fifo3: the reader does not get what is written to the path");
	test_result();
}
