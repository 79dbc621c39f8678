/* File descriptors in flight: a message queued in a unix socketpair carries
 * (SCM_RIGHTS) a regular file (offset, flags) and a pipe's write end, whose
 * only other copies were closed. After restore recvmsg() gives the message
 * and working fds: the file at its offset, the pipe end connected to the read
 * end this task kept (closing it gives that reader EOF). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ztest.h"

int main(int argc, char **argv)
{
	static unsigned char data[10000], buf[10000];
	char path[600], cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { "fds", 3 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	struct stat st_file;
	int sp[2], pp[2], file, fds[2];

	test_init(argc, argv);
	snprintf(path, sizeof(path), "%s/scm.file", test_tmpdir());
	file = open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0600);
	if (file < 0)
		fail("open: %m");
	zt_fill(data, sizeof(data), 0x5c3);
	if (write(file, data, sizeof(data)) != sizeof(data) || lseek(file, 1234, SEEK_SET) != 1234)
		fail("write: %m");
	fstat(file, &st_file);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) || pipe(pp))
		fail("socketpair/pipe: %m");
	memset(cbuf, 0, sizeof(cbuf));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(c), (int[]){ file, pp[1] }, 2 * sizeof(int));
	if (sendmsg(sp[0], &mh, 0) != 3)
		fail("sendmsg: %m");
	if (send(sp[0], "tail", 4, 0) != 4)
		fail("send: %m");
	/* the message holds the only references now */
	close(file);
	close(pp[1]);

	test_ready();
	test_waitsig();

	memset(cbuf, 0, sizeof(cbuf));
	iov.iov_base = buf;
	iov.iov_len = 3; /* the message only, not "tail" */
	mh.msg_controllen = sizeof(cbuf);
	if (recvmsg(sp[1], &mh, MSG_DONTWAIT) != 3 || memcmp(buf, "fds", 3))
		fail("the message is not queued: %m");
	c = CMSG_FIRSTHDR(&mh);
	if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(2 * sizeof(int)))
		fail("the message carries no SCM_RIGHTS with 2 fds");
	memcpy(fds, CMSG_DATA(c), sizeof(fds));
	if (test_self_fail)
		lseek(fds[0], 0, SEEK_SET);

	{
		struct stat st;

		if (fstat(fds[0], &st) || st.st_ino != st_file.st_ino || st.st_dev != st_file.st_dev)
			test_err("the first fd is not %s", path);
		if ((fcntl(fds[0], F_GETFL) & (O_ACCMODE | O_APPEND)) != (O_RDWR | O_APPEND))
			test_err("the file's flags are %#o", fcntl(fds[0], F_GETFL));
		if (lseek(fds[0], 0, SEEK_CUR) != 1234)
			test_err("the file's offset is %lld, was 1234", (long long)lseek(fds[0], 0, SEEK_CUR));
		if (pread(fds[0], buf, sizeof(buf), 0) != sizeof(buf) || memcmp(buf, data, sizeof(buf)))
			test_err("the file's contents differ");
		if (fstat(fds[1], &st) || !S_ISFIFO(st.st_mode) || (fcntl(fds[1], F_GETFL) & O_ACCMODE) != O_WRONLY)
			test_err("the second fd is not a pipe's write end");
	}
	if (write(fds[1], "through", 7) != 7 || read(pp[0], buf, 16) != 7 || memcmp(buf, "through", 7))
		test_err("the pipe end received does not reach the read end kept");
	close(fds[1]);
	{
		struct pollfd p = { .fd = pp[0], .events = POLLIN };

		if (poll(&p, 1, 0) != 1 || !(p.revents & POLLHUP) || read(pp[0], buf, 1) != 0)
			test_err("the pipe has another writer: no EOF once the received end is closed");
	}
	if (recv(sp[1], buf, sizeof(buf), MSG_DONTWAIT) != 4 || memcmp(buf, "tail", 4))
		test_err("the data after the message differs");
	test_result();
}
