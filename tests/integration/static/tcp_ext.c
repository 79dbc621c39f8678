/* TCP connections to a peer outside the dumped tree (dump --tcp-established): the
 * test (a server) forks a client that leaves the tree (double fork and setsid: it
 * is reparented, so the dump does not see it) and connects to it over IPv4 and
 * IPv6. The client keeps sending numbered records on both connections the whole
 * time, while the server is dumped, gone and restored: the network lock must hold
 * them back (a reset would kill the connection, an acknowledgement by the socket
 * being dumped would lose them) and let them through after the restore. After
 * SIGTERM the server tells the client to stop (a file), reads every record until
 * the last one (no gap, no duplicate), answers with the count, and waits for the
 * client's verdict on the answers (a file): the client saw no error at all. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ztest.h"

#define LAST 0xffffffffffffffffull
#define NCONN 2

static char go_path[512], verdict_path[512];

static int read_full(int fd, void *p, size_t len, int timeout_ms)
{
	size_t n = 0;

	while (n < len) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t r;
		if (poll(&pf, 1, timeout_ms) != 1)
			return -1;
		r = read(fd, (char *)p + n, len - n);
		if (r <= 0)
			return -1;
		n += r;
	}
	return 0;
}

static int write_full(int fd, const void *p, size_t len)
{
	size_t n = 0;

	while (n < len) {
		ssize_t r = send(fd, (const char *)p + n, len - n, MSG_NOSIGNAL);
		if (r <= 0)
			return -1;
		n += r;
	}
	return 0;
}

static void verdict(const char *msg)
{
	int fd = open(verdict_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd >= 0) {
		if (write(fd, msg, strlen(msg)) < 0) {
			/* nothing more to say */
		}
		close(fd);
	}
	_exit(0);
}

/* The client, outside the tree. */
static void client(const struct sockaddr_storage *to, const socklen_t *tolen)
{
	int fds[NCONN];
	uint64_t seq[NCONN] = { 0 };
	char msg[256];
	time_t end = time(NULL) + 120;

	for (int i = 0; i < NCONN; i++) {
		fds[i] = socket(to[i].ss_family, SOCK_STREAM, 0);
		if (fds[i] < 0 || connect(fds[i], (const struct sockaddr *)&to[i], tolen[i]) < 0) {
			snprintf(msg, sizeof(msg), "FAIL: connect %d: %s", i, strerror(errno));
			verdict(msg);
		}
	}
	while (access(go_path, F_OK) < 0) {
		if (time(NULL) > end)
			verdict("FAIL: no go within 120 s");
		for (int i = 0; i < NCONN; i++) {
			if (write_full(fds[i], &seq[i], sizeof(seq[i])) < 0) {
				snprintf(msg, sizeof(msg), "FAIL: conn %d: send of record %llu: %s", i,
					 (unsigned long long)seq[i], strerror(errno));
				verdict(msg);
			}
			seq[i]++;
		}
		usleep(2000);
	}
	for (int i = 0; i < NCONN; i++) {
		uint64_t last = LAST, count = 0;
		if (write_full(fds[i], &last, sizeof(last)) < 0) {
			snprintf(msg, sizeof(msg), "FAIL: conn %d: send of the last record: %s", i, strerror(errno));
			verdict(msg);
		}
		if (read_full(fds[i], &count, sizeof(count), 60000) < 0) {
			snprintf(msg, sizeof(msg), "FAIL: conn %d: no answer: %s", i, strerror(errno));
			verdict(msg);
		}
		if (count != seq[i]) {
			snprintf(msg, sizeof(msg), "FAIL: conn %d: the server counted %llu records, %llu were sent", i,
				 (unsigned long long)count, (unsigned long long)seq[i]);
			verdict(msg);
		}
	}
	snprintf(msg, sizeof(msg), "PASS %llu %llu", (unsigned long long)seq[0], (unsigned long long)seq[1]);
	verdict(msg);
}

static int listener(int family, struct sockaddr_storage *ss, socklen_t *l)
{
	int fd = socket(family, SOCK_STREAM, 0);

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*l = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		*l = sizeof(*sin6);
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)ss, *l) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)ss, l) < 0)
		fail("listener: %m");
	return fd;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss[NCONN];
	socklen_t sl[NCONN];
	int lfd[NCONN], cfd[NCONN], st;
	pid_t pid;
	char v[256] = "";

	test_init(argc, argv);
	snprintf(go_path, sizeof(go_path), "%s/tcp_ext.go.%d", test_tmpdir(), getpid());
	snprintf(verdict_path, sizeof(verdict_path), "%s/tcp_ext.verdict.%d", test_tmpdir(), getpid());
	unlink(go_path);
	unlink(verdict_path);
	lfd[0] = listener(AF_INET, &ss[0], &sl[0]);
	lfd[1] = listener(AF_INET6, &ss[1], &sl[1]);
	pid = fork();
	if (pid < 0)
		fail("fork: %m");
	if (pid == 0) {
		/* out of the tree: the intermediate child exits, the client is reparented */
		signal(SIGTERM, SIG_DFL);
		if (fork() == 0) {
			setsid();
			for (int i = 0; i < NCONN; i++)
				close(lfd[i]);
			client(ss, sl);
		}
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid)
		fail("waitpid: %m");
	for (int i = 0; i < NCONN; i++) {
		cfd[i] = accept(lfd[i], NULL, NULL);
		if (cfd[i] < 0)
			fail("accept: %m");
		close(lfd[i]);
	}
	test_ready();
	test_waitsig();

	{
		int fd = open(go_path, O_WRONLY | O_CREAT, 0644);
		if (fd < 0)
			fail("can't create %s: %m", go_path);
		close(fd);
	}
	for (int i = 0; i < NCONN; i++) {
		uint64_t want = 0, r;
		for (;;) {
			if (read_full(cfd[i], &r, sizeof(r), 60000) < 0) {
				test_err("conn %d: the stream ended after %llu records: %m", i, (unsigned long long)want);
				break;
			}
			if (r == LAST)
				break;
			if (r != want) {
				test_err("conn %d: record %llu where %llu was due", i, (unsigned long long)r,
					 (unsigned long long)want);
				break;
			}
			want++;
		}
		if (test_self_fail)
			want++;
		if (write_full(cfd[i], &want, sizeof(want)) < 0)
			test_err("conn %d: can't answer: %m", i);
	}
	for (int i = 0; i < 600; i++) {
		int fd = open(verdict_path, O_RDONLY);
		if (fd >= 0) {
			ssize_t n = read(fd, v, sizeof(v) - 1);
			close(fd);
			if (n > 0) {
				v[n] = 0;
				break;
			}
		}
		usleep(100000);
	}
	test_msg("the client says: %s", v[0] ? v : "(nothing)");
	if (strncmp(v, "PASS", 4))
		test_err("the client outside the tree: %s", v[0] ? v : "no verdict within 60 s");
	unlink(go_path);
	unlink(verdict_path);
	test_result();
}
