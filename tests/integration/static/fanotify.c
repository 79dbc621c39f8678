/* A fanotify group (FAN_CLASS_NOTIF, marks on a directory for FAN_MODIFY and
 * FAN_CLOSE_WRITE of its children) held at fd 77: not something criu-lite
 * carries, so the dump must fail naming fd 77 and what it is, and leave the
 * group working: events still arrive after the failed dump. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ztest.h"

#define FD_FAN 77

int main(int argc, char **argv)
{
	char dir[600], file[700], buf[4096] __attribute__((aligned(8)));
	struct fanotify_event_metadata *m;
	struct stat st;
	int fd, n, seen = 0;

	test_init(argc, argv);
	snprintf(dir, sizeof(dir), "%s/fan.d", test_tmpdir());
	snprintf(file, sizeof(file), "%s/file", dir);
	if (mkdir(dir, 0755))
		fail("mkdir: %m");
	fd = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY);
	if (fd < 0 || dup2(fd, FD_FAN) != FD_FAN)
		fail("fanotify_init: %m");
	close(fd);
	if (fanotify_mark(FD_FAN, FAN_MARK_ADD, FAN_MODIFY | FAN_CLOSE_WRITE | FAN_EVENT_ON_CHILD,
			  AT_FDCWD, dir))
		fail("fanotify_mark: %m");

	test_ready();
	test_waitsig();
	if (test_self_fail)
		fanotify_mark(FD_FAN, FAN_MARK_REMOVE, FAN_MODIFY | FAN_CLOSE_WRITE | FAN_EVENT_ON_CHILD,
			      AT_FDCWD, dir);

	fd = open(file, O_WRONLY | O_CREAT, 0644);
	if (fd < 0 || write(fd, "x", 1) != 1 || fstat(fd, &st))
		fail("write %s: %m", file);
	close(fd);
	n = read(FD_FAN, buf, sizeof(buf));
	for (m = (void *)buf; n > 0 && FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
		struct stat est;

		if (m->fd >= 0) {
			if (!fstat(m->fd, &est) && est.st_ino == st.st_ino && m->pid == getpid())
				seen |= m->mask & (FAN_MODIFY | FAN_CLOSE_WRITE);
			close(m->fd);
		}
	}
	if (seen != (FAN_MODIFY | FAN_CLOSE_WRITE))
		test_err("fanotify reported %#x for the file, want FAN_MODIFY|FAN_CLOSE_WRITE", seen);
	test_result();
}
