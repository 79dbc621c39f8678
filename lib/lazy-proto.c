/* The restore <-> lazy-pages wire protocol (see lazy-proto.h). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-pages: "
#include "lib/lazy-proto.h"
#include "lib/log.h"
#include "lib/util.h"

int lp_proto_sun(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		pr_err("socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sun->sun_path, path);
	return 0;
}

int lp_proto_send(int sock, uint32_t type, uint64_t id, int fd)
{
	return lp_proto_send2(sock, type, id, fd, -1);
}

int lp_proto_send2(int sock, uint32_t type, uint64_t id, int fd, int fd2)
{
	struct lp_hs_msg m = { LP_HS_MAGIC, type, id };
	char cbuf[CMSG_SPACE(2 * sizeof(int))] = { 0 };
	int fds[2] = { fd, fd2 };
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		size_t n = fd2 >= 0 ? 2 : 1;
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	}
	while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0) {
		if (errno == EINTR)
			continue;
		pr_perror("can't send to the lazy-pages daemon");
		return -1;
	}
	return 0;
}

/* One message and its fd (-1 if none): 1, 0 at EOF, -1 on error (errno set). */
int lp_proto_recv(int sock, struct lp_hs_msg *m, int *ret_fd)
{
	int fd2 = -1, r = lp_proto_recv2(sock, m, ret_fd, &fd2);

	closep(&fd2);
	return r;
}

int lp_proto_recv2(int sock, struct lp_hs_msg *m, int *ret_fd, int *ret_fd2)
{
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { m, sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	ssize_t n;

	*ret_fd = *ret_fd2 = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*ret_fd < 0)
				*ret_fd = fd;
			else if (*ret_fd2 < 0)
				*ret_fd2 = fd;
			else
				close(fd); /* two fds per message at most */
		}
	}
	if (n != sizeof(*m) || m->magic != LP_HS_MAGIC || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		closep(ret_fd);
		closep(ret_fd2);
		errno = EBADMSG;
		return -1;
	}
	return 1;
}

/* ---- client ---- */

int lp_client_connect_path(const char *path)
{
	struct sockaddr_un sun;

	if (lp_proto_sun(&sun, path))
		return -1;
	int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		pr_perror("socket");
		return -1;
	}
	/* the daemon may still be starting: retry for 10 s */
	for (int i = 0; i < 1000; i++) {
		if (connect(sock, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return sock;
		if (errno != ENOENT && errno != ECONNREFUSED && errno != EINTR)
			break;
		usleep(10000);
	}
	pr_perror("can't connect to the lazy-pages daemon at %s", path);
	close(sock);
	return -1;
}

int lp_client_connect(const char *dir)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, LP_SOCK_NAME) >= sizeof(path)) {
		pr_err("the lazy-pages socket path %s/%s is too long\n", dir, LP_SOCK_NAME);
		errno = ENAMETOOLONG;
		return -1;
	}
	return lp_client_connect_path(path);
}

int lp_client_send_task(int sock, pid_t pid, int uffd)
{
	if (pid <= 0 || uffd < 0) {
		pr_err("bad task %d / uffd %d\n", (int)pid, uffd);
		return -1;
	}
	return lp_proto_send(sock, LP_HS_TASK, (uint64_t)pid, uffd);
}

int lp_client_send_task_pid(int sock, pid_t pid, int uffd, pid_t host)
{
	int pidfd, r;

	if (host <= 0 || host == pid)
		return lp_client_send_task(sock, pid, uffd);
	if (pid <= 0 || uffd < 0) {
		pr_err("bad task %d / uffd %d\n", (int)pid, uffd);
		return -1;
	}
	/* our own pidfd: in our pid namespace, getpid() names us; one message, as the
	 * tasks send theirs concurrently */
	pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (pidfd < 0) {
		pr_perror("can't open a pidfd of task %d", (int)pid);
		return -1;
	}
	r = lp_proto_send2(sock, LP_HS_TASK_PID, (uint64_t)(uint32_t)host << 32 | (uint32_t)pid, uffd, pidfd);
	close(pidfd);
	return r;
}

int lp_client_send_shmem(int sock, uint64_t shmem_id, int fd)
{
	return lp_proto_send(sock, LP_HS_SHMEM, shmem_id, fd);
}

int lp_client_restore_finished(int sock)
{
	return lp_proto_send(sock, LP_HS_FINISHED, 0, -1);
}

int lp_client_sync(int sock, int timeout_ms)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct lp_hs_msg m;
	int fd;

	if (lp_proto_send(sock, LP_HS_SYNC, 0, -1))
		return -1;
	for (;;) {
		uint64_t now = now_ns();
		if (now >= end)
			return 1;
		struct pollfd p = { sock, POLLIN, 0 };
		int n = poll(&p, 1, (int)((end - now + 999999) / 1000000));
		if (n < 0 && errno != EINTR) {
			pr_perror("poll");
			return -1;
		}
		if (n <= 0)
			continue;
		int ret = lp_proto_recv(sock, &m, &fd);
		if (ret < 0 && errno == EAGAIN)
			continue;
		closep(&fd);
		if (ret <= 0 || m.type != LP_HS_ACK) {
			pr_err("the lazy-pages daemon did not acknowledge: %s\n",
			       ret < 0	  ? strerror(errno)
			       : ret == 0 ? "connection closed"
					  : "unexpected message");
			return -1;
		}
		return 0;
	}
}
