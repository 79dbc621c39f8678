/* File descriptors: regular files (path, access mode and flags, offset,
 * FD_CLOEXEC, a dup sharing the offset, an O_APPEND one, a high fd number),
 * a directory fd (openat through it), /dev/null, a memfd (name, size,
 * contents, offset). The set of open fds must be the same: no fd lost or
 * left behind by the restore. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ztest.h"

#define FD_RW 40
#define FD_RO 41
#define FD_DUP 42
#define FD_APP 43
#define FD_DIR 44
#define FD_NULL 45
#define FD_MEMFD 46
#define FD_HIGH 900

struct fdinfo {
	int fd;
	int flags;   /* F_GETFL */
	int fdflags; /* F_GETFD */
	off_t pos;
	char path[512];
	struct stat st;
};

static int fds[] = { FD_RW, FD_RO, FD_DUP, FD_APP, FD_DIR, FD_NULL, FD_MEMFD, FD_HIGH };
#define NFDS (int)(sizeof(fds) / sizeof(fds[0]))
static struct fdinfo info[NFDS];
static char fdset_before[4096], fdset_after[4096];
static char dir[512], f1[600], f2[600];

static void fdset(char *buf, size_t len)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int ds, n = 0, list[1024];

	if (!d)
		fail("opendir: %m");
	ds = dirfd(d);
	while ((de = readdir(d)) && n < 1024) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] != '.' && fd != ds)
			list[n++] = fd;
	}
	closedir(d);
	/* sort */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && list[j - 1] > list[j]; j--) {
			int t = list[j];
			list[j] = list[j - 1];
			list[j - 1] = t;
		}
	buf[0] = 0;
	for (int i = 0; i < n; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%d ", list[i]);
}

static void get(struct fdinfo *fi, int fd)
{
	char p[64];
	ssize_t n;

	fi->fd = fd;
	fi->flags = fcntl(fd, F_GETFL);
	fi->fdflags = fcntl(fd, F_GETFD);
	fi->pos = lseek(fd, 0, SEEK_CUR);
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	n = readlink(p, fi->path, sizeof(fi->path) - 1);
	fi->path[n > 0 ? n : 0] = 0;
	if (fstat(fd, &fi->st))
		memset(&fi->st, 0xff, sizeof(fi->st));
}

static void move_fd(int from, int to)
{
	if (dup2(from, to) != to)
		fail("dup2: %m");
	close(from);
}

int main(int argc, char **argv)
{
	static char buf[3 * 4096];
	int fd;

	test_init(argc, argv);
	snprintf(dir, sizeof(dir), "%s/fds.dir", test_tmpdir());
	mkdir(dir, 0755);
	snprintf(f1, sizeof(f1), "%s/file1", dir);
	snprintf(f2, sizeof(f2), "%s/file2 with spaces", dir);

	fd = open(f1, O_RDWR | O_CREAT | O_TRUNC, 0640);
	if (fd < 0)
		fail("open: %m");
	zt_fill(buf, 10000, 0xf1);
	if (write(fd, buf, 10000) != 10000)
		fail("write: %m");
	lseek(fd, 1234, SEEK_SET);
	move_fd(fd, FD_RW);
	if (dup2(FD_RW, FD_DUP) != FD_DUP) /* shares FD_RW's offset */
		fail("dup2: %m");
	fcntl(FD_DUP, F_SETFD, FD_CLOEXEC);

	fd = open(f1, O_RDONLY | O_NOATIME);
	if (fd < 0)
		fd = open(f1, O_RDONLY);
	lseek(fd, 777, SEEK_SET);
	move_fd(fd, FD_RO);

	fd = open(f2, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "hello", 5) != 5)
		fail("open/write %s: %m", f2);
	move_fd(fd, FD_APP);

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fail("open dir: %m");
	move_fd(fd, FD_DIR);
	fcntl(FD_DIR, F_SETFD, FD_CLOEXEC);

	fd = open("/dev/null", O_WRONLY | O_NONBLOCK);
	if (fd < 0)
		fail("open /dev/null: %m");
	move_fd(fd, FD_NULL);

	fd = memfd_create("zt-fds", 0);
	if (fd < 0)
		fail("memfd_create: %m");
	zt_fill(buf, sizeof(buf), 0x3fd);
	if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		fail("write memfd: %m");
	lseek(fd, 4321, SEEK_SET);
	move_fd(fd, FD_MEMFD);

	fd = open(f1, O_WRONLY | O_SYNC);
	if (fd < 0)
		fail("open: %m");
	lseek(fd, 5000, SEEK_SET);
	move_fd(fd, FD_HIGH);

	for (int i = 0; i < NFDS; i++)
		get(&info[i], fds[i]);
	fdset(fdset_before, sizeof(fdset_before));

	test_ready();
	test_waitsig();
	if (test_self_fail)
		lseek(FD_RO, 1, SEEK_CUR);

	fdset(fdset_after, sizeof(fdset_after));
	if (strcmp(fdset_before, fdset_after))
		test_err("open fds differ: before [%s] after [%s]", fdset_before, fdset_after);
	for (int i = 0; i < NFDS; i++) {
		struct fdinfo now, *b = &info[i];

		get(&now, fds[i]);
		if (now.flags != b->flags)
			test_err("fd %d: flags %#o, were %#o", fds[i], now.flags, b->flags);
		if (now.fdflags != b->fdflags)
			test_err("fd %d: fd flags %#x, were %#x", fds[i], now.fdflags, b->fdflags);
		if (now.pos != b->pos)
			test_err("fd %d: offset %lld, was %lld", fds[i], (long long)now.pos, (long long)b->pos);
		if (strcmp(now.path, b->path))
			test_err("fd %d: path '%s', was '%s'", fds[i], now.path, b->path);
		if (fds[i] != FD_MEMFD && (now.st.st_ino != b->st.st_ino || now.st.st_dev != b->st.st_dev))
			test_err("fd %d: not the same file (ino %lu, was %lu)", fds[i],
				 (unsigned long)now.st.st_ino, (unsigned long)b->st.st_ino);
		if (now.st.st_size != b->st.st_size || (now.st.st_mode & S_IFMT) != (b->st.st_mode & S_IFMT))
			test_err("fd %d: size/type changed", fds[i]);
	}
	/* behaviour */
	if (pread(FD_RO, buf, 10000, 0) != 10000 || zt_verify(buf, 10000, 0xf1) >= 0)
		test_err("file1 contents differ");
	if (lseek(FD_DUP, 100, SEEK_SET) != 100 || lseek(FD_RW, 0, SEEK_CUR) != 100)
		test_err("dup'ed fds no longer share their offset");
	if (write(FD_APP, "world", 5) != 5 || lseek(FD_APP, 0, SEEK_CUR) != 10)
		test_err("O_APPEND fd does not append");
	fd = openat(FD_DIR, "file1", O_RDONLY);
	if (fd < 0)
		test_err("openat through the directory fd: %m");
	else
		close(fd);
	{
		struct stat st;

		if (fstat(FD_NULL, &st) || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
			test_err("fd %d is not /dev/null", FD_NULL);
		if (write(FD_NULL, "x", 1) != 1)
			test_err("write /dev/null: %m");
	}
	memset(buf, 0, sizeof(buf));
	if (pread(FD_MEMFD, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
	    zt_verify(buf, sizeof(buf), 0x3fd) >= 0)
		test_err("memfd contents differ");
	if (strncmp(info[6].path, "/memfd:zt-fds", 13))
		test_err("memfd link is '%s'", info[6].path);
	unlink(f1);
	unlink(f2);
	rmdir(dir);
	test_result();
}
