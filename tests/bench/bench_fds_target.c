/*
 * The target of the fd benchmark (bench_fds.py): a tree of --tasks processes (the
 * root and its children) holding --fds descriptors in all, either of mixed kinds or
 * regular files only, then waiting to be dumped.
 *
 * Every task holds a few descriptions inherited from the root (regular files, a pipe,
 * a socket pair: shared by every task), then its own share of the rest:
 *   mixed: regular files (and dups of them), pipes with bytes queued, unix socket
 *          pairs with bytes queued, eventfds, timerfds, signalfds, memfds, a FIFO
 *          opened read-write, and an epoll watching some of them;
 *   reg:   regular files only (each its own open).
 * The root writes the pid file once every task is ready.
 *
 *   bench_fds_target --pidfile F --dir D --tasks 64 --fds 10000 --kind mixed|reg
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define NFILES 16
#define INHERITED 8 /* 4 files, a pipe, a socket pair */

static char dir[512];
static int *ready;

static void die(const char *what)
{
	fprintf(stderr, "bench_fds_target: %s: %s\n", what, strerror(errno));
	_exit(1);
}

static int file_fd(int i)
{
	char p[600];
	int fd;

	snprintf(p, sizeof(p), "%s/f%d", dir, i % NFILES);
	fd = open(p, O_RDONLY);
	if (fd < 0)
		die("open");
	return fd;
}

/* n more fds of the mixed kinds in this task */
static void mixed(int task, int n)
{
	int made = 0, ep = epoll_create1(0), watched = 0;
	sigset_t ss;
	char fifo[600];

	if (ep < 0)
		die("epoll_create1");
	made++;
	sigemptyset(&ss);
	sigaddset(&ss, SIGUSR1);
	snprintf(fifo, sizeof(fifo), "%s/fifo%d", dir, task);
	if (mkfifo(fifo, 0600) && errno != EEXIST)
		die("mkfifo");
	for (int i = 0; made < n; i++) {
		int fds[2], k = i % 10, a = -1;
		bool pollable = true;

		switch (k) {
		case 0:
		case 1:
			a = file_fd(i);
			made++;
			if (k == 1 && made < n && dup(a) >= 0)
				made++;
			break;
		case 2:
			if (n - made < 2 || pipe(fds))
				goto one;
			if (write(fds[1], "0123456789", 10) != 10)
				die("write");
			a = fds[0];
			made += 2;
			break;
		case 3:
			if (n - made < 2 || socketpair(AF_UNIX, SOCK_STREAM, 0, fds))
				goto one;
			if (write(fds[0], "abcdefgh", 8) != 8)
				die("write");
			a = fds[1];
			made += 2;
			break;
		case 4:
			a = eventfd(i, 0);
			made++;
			break;
		case 5: {
			struct itimerspec it = { { 0, 0 }, { 1000, 0 } };
			a = timerfd_create(CLOCK_MONOTONIC, 0);
			if (a >= 0)
				timerfd_settime(a, 0, &it, NULL);
			made++;
			break;
		}
		case 6:
			a = signalfd(-1, &ss, 0);
			made++;
			break;
		case 7:
			a = memfd_create("bench", 0);
			pollable = false;
			if (a >= 0 && (ftruncate(a, 4096) || write(a, "m", 1) != 1))
				die("write");
			made++;
			break;
		case 8:
			a = open(fifo, O_RDWR);
			made++;
			break;
		default:
		one:
			a = file_fd(i);
			made++;
			pollable = false;
			break;
		}
		if (a < 0)
			die("an fd");
		if (watched < 16 && pollable && k >= 2 && k <= 8) {
			struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
			if (epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev))
				die("epoll_ctl");
			watched++;
		}
	}
}

static void task_main(int task, int n, int mix)
{
	if (n > 0) {
		if (mix)
			mixed(task, n);
		else
			for (int i = 0; i < n; i++)
				file_fd(task * 131 + i);
	}
	__atomic_add_fetch(ready, 1, __ATOMIC_SEQ_CST);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	const char *pidfile = NULL, *kind = "mixed";
	int tasks = 64, fds = 10000, mix, per, extra, sp[2], pp[2];
	struct rlimit rl;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--pidfile"))
			pidfile = argv[i + 1];
		else if (!strcmp(argv[i], "--dir"))
			snprintf(dir, sizeof(dir), "%s", argv[i + 1]);
		else if (!strcmp(argv[i], "--tasks"))
			tasks = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--fds"))
			fds = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--kind"))
			kind = argv[i + 1];
	}
	if (!pidfile || !dir[0] || tasks < 1 || fds < tasks * (INHERITED + 3)) {
		fprintf(stderr, "usage: bench_fds_target --pidfile F --dir D [--tasks N] [--fds N] [--kind mixed|reg]\n");
		return 2;
	}
	mix = !strcmp(kind, "mixed");
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (int i = 0; i < NFILES; i++) {
		char p[600];
		int fd;
		snprintf(p, sizeof(p), "%s/f%d", dir, i);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, p, strlen(p)) < 0)
			die("create a file");
		close(fd);
	}
	ready = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ready == MAP_FAILED)
		die("mmap");
	/* stdio: /dev/null; everything else: ours */
	{
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		close(null);
	}
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	setsid();
	/* shared by every task: 4 files, a pipe, a socket pair (with data) */
	for (int i = 0; i < 4; i++)
		file_fd(i);
	if (pipe(pp) || socketpair(AF_UNIX, SOCK_STREAM, 0, sp) || write(pp[1], "p", 1) != 1 ||
	    write(sp[0], "s", 1) != 1)
		die("pipe/socketpair");
	/* the tasks' shares: 3 fds 0-2, the inherited ones, their own */
	per = fds / tasks - 3 - INHERITED;
	extra = fds - tasks * (fds / tasks);
	for (int t = 1; t < tasks; t++) {
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0)
			task_main(t, per, mix);
	}
	{
		/* the root: its share, then wait for every task */
		int n = per + extra;
		if (mix)
			mixed(0, n);
		else
			for (int i = 0; i < n; i++)
				file_fd(i);
	}
	while (__atomic_load_n(ready, __ATOMIC_SEQ_CST) < tasks - 1)
		usleep(1000);
	{
		char tmp[600], buf[32];
		int fd, len = snprintf(buf, sizeof(buf), "%d", getpid());
		snprintf(tmp, sizeof(tmp), "%s.tmp", pidfile);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, buf, len) != len || close(fd) || rename(tmp, pidfile))
			die("pidfile");
	}
	for (;;)
		pause();
}
