/* The lazy-pages watchdog (see watchdog.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-pages watchdog: "
#include "lib/log.h"
#include "lib/util.h"
#include "lazy-pages/watchdog.h"

#define WD_ADD 1
#define WD_DONE 2
#define WD_MAX_TASKS 65536

struct wd_msg {
	uint32_t type;
	int32_t pid;
	uint32_t has_pidfd;
	uint32_t pad;
};

struct wd_task {
	pid_t pid;
	int pidfd;
	int uffd;
};

static int wd_send(int sock, const struct wd_msg *m, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))] = { 0 };
	struct iovec iov = { (void *)m, sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

/* Descendants of pid, appended to *v (walks /proc/PID/task/TID/children). */
static void wd_descendants(pid_t pid, pid_t **v, size_t *nr, size_t *cap, int depth)
{
	char path[64];

	if (depth > 64)
		return;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char cpath[300];
		snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", (int)pid, de->d_name);
		FILE *f = fopen(cpath, "re");
		if (!f)
			continue;
		int c;
		while (fscanf(f, "%d", &c) == 1) {
			if (*nr == *cap) {
				size_t ncap = *cap ? 2 * *cap : 64;
				pid_t *nv = realloc(*v, ncap * sizeof(*nv));
				if (!nv)
					break;
				*v = nv;
				*cap = ncap;
			}
			(*v)[(*nr)++] = c;
			wd_descendants(c, v, nr, cap, depth + 1);
		}
		fclose(f);
	}
	closedir(d);
}

static void wd_kill_all(struct wd_task *tasks, size_t nr)
{
	pid_t *desc = NULL;
	size_t nd = 0, cap = 0;

	/* children first seen, then everything killed, twice (a fork may race the walk) */
	for (int pass = 0; pass < 2; pass++) {
		nd = 0;
		for (size_t i = 0; i < nr; i++)
			if (tasks[i].pid > 0)
				wd_descendants(tasks[i].pid, &desc, &nd, &cap, 0);
		for (size_t i = 0; i < nr; i++) {
			if (tasks[i].pidfd >= 0)
				syscall(SYS_pidfd_send_signal, tasks[i].pidfd, SIGKILL, NULL, 0);
			else if (tasks[i].pid > 0)
				kill(tasks[i].pid, SIGKILL);
		}
		for (size_t i = 0; i < nd; i++)
			kill(desc[i], SIGKILL);
	}
	free(desc);
	/* hold the uffds until the tasks are gone (at most a few seconds) */
	for (size_t i = 0; i < nr; i++) {
		if (tasks[i].pidfd < 0)
			continue;
		struct pollfd p = { tasks[i].pidfd, POLLIN, 0 };
		poll(&p, 1, 2000);
	}
}

static int wd_main(int sock)
{
	struct wd_task *tasks = NULL;
	size_t nr = 0, cap = 0;
	int ret = 0;

	for (;;) {
		struct wd_msg m;
		char cbuf[CMSG_SPACE(2 * sizeof(int))];
		struct iovec iov = { &m, sizeof(m) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* the daemon is gone without saying every page is in */
			pr_msg("lazy-pages watchdog: the lazy-pages daemon died before every page "
			       "arrived: killing the %zu restored task(s), whose memory is incomplete\n",
			       nr);
			wd_kill_all(tasks, nr);
			ret = 1;
			break;
		}
		if (m.type == WD_DONE)
			break;
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		int fds[2] = { -1, -1 };
		if (c && c->cmsg_type == SCM_RIGHTS)
			memcpy(fds, CMSG_DATA(c), MIN(c->cmsg_len - CMSG_LEN(0), sizeof(fds)));
		if (nr == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct wd_task *v = ncap <= WD_MAX_TASKS ? realloc(tasks, ncap * sizeof(*v)) : NULL;
			if (!v) {
				pr_msg("lazy-pages watchdog: out of memory: killing the restored tasks\n");
				wd_kill_all(tasks, nr);
				ret = 1;
				break;
			}
			tasks = v;
			cap = ncap;
		}
		tasks[nr++] = (struct wd_task){ m.pid, m.has_pidfd ? fds[1] : -1, fds[0] };
	}
	for (size_t i = 0; i < nr; i++) {
		closep(&tasks[i].uffd);
		closep(&tasks[i].pidfd);
	}
	free(tasks);
	return ret;
}

int lp_watchdog_start(struct lp_watchdog *wd)
{
	int sv[2];

	wd->pid = -1;
	wd->sock = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		pr_perror("socketpair");
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		pr_perror("can't fork the watchdog");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		/* keep only the socket and the log: no other fd of the daemon's */
		int keep[2] = { sv[1], log_get_fd() };
		if (keep[0] > keep[1]) {
			int x = keep[0];
			keep[0] = keep[1];
			keep[1] = x;
		}
		unsigned lo = 3;
		for (int i = 0; i < 2; i++) {
			if (keep[i] >= (int)lo) {
				if (keep[i] > (int)lo)
					syscall(SYS_close_range, lo, keep[i] - 1, 0);
				lo = keep[i] + 1;
			}
		}
		syscall(SYS_close_range, lo, ~0U, 0);
		signal(SIGPIPE, SIG_IGN);
		prctl(PR_SET_NAME, "lp-watchdog");
		_exit(wd_main(sv[1]));
	}
	close(sv[1]);
	wd->pid = pid;
	wd->sock = sv[0];
	return 0;
}

int lp_watchdog_add(struct lp_watchdog *wd, pid_t pid, int pidfd, int uffd)
{
	struct wd_msg m = { WD_ADD, pid, pidfd >= 0, 0 };
	int fds[2] = { uffd, pidfd };

	if (wd_send(wd->sock, &m, fds, pidfd >= 0 ? 2 : 1)) {
		pr_perror("can't hand task %d to the watchdog", (int)pid);
		return -1;
	}
	return 0;
}

int lp_watchdog_done(struct lp_watchdog *wd)
{
	struct wd_msg m = { WD_DONE, 0, 0, 0 };
	int status, ret = 0;

	if (wd->pid <= 0)
		return 0;
	if (wd_send(wd->sock, &m, NULL, 0)) {
		pr_perror("can't tell the watchdog we are done");
		ret = -1;
	}
	closep(&wd->sock);
	if (waitpid(wd->pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		pr_err("the watchdog failed (status %#x)\n", status);
		ret = -1;
	}
	wd->pid = -1;
	return ret;
}

void lp_watchdog_abort(struct lp_watchdog *wd)
{
	closep(&wd->sock);
	if (wd->pid > 0)
		waitpid(wd->pid, NULL, 0);
	wd->pid = -1;
}
