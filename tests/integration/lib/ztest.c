/* ztest: start, readiness, wait for SIGTERM, pass/fail. See ztest.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ztest.h"

int test_self_fail;

static const char *pidfile;
static const char *outfile;
static pid_t root_pid;
static int sigterm_flag; /* futex word */
static int nr_errors;
static char first_error[512];

pid_t zt_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

long zt_futex_wait(int *uaddr, int val, const void *timeout)
{
	return syscall(SYS_futex, uaddr, FUTEX_WAIT, val, timeout, NULL, 0);
}

long zt_futex_wake(int *uaddr, int n)
{
	return syscall(SYS_futex, uaddr, FUTEX_WAKE, n, NULL, NULL, 0);
}

static void sigterm_handler(int sig)
{
	int saved = errno;

	(void)sig;
	__atomic_store_n(&sigterm_flag, 1, __ATOMIC_SEQ_CST);
	zt_futex_wake(&sigterm_flag, 1000);
	errno = saved;
}

void test_msg(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "[%d] ", (int)getpid());
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	n = strlen(buf);
	if (n && buf[n - 1] != '\n' && n < (int)sizeof(buf) - 1) {
		buf[n++] = '\n';
		buf[n] = 0;
	}
	if (write(STDERR_FILENO, buf, n) < 0) {
		/* nothing to do */
	}
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--pidfile F] [--outfile F] [--self-test-fail]\n", prog);
	exit(2);
}

void test_init(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t set;
	const char *e;

	pidfile = getenv("ZT_PIDFILE");
	outfile = getenv("ZT_OUTFILE");
	e = getenv("ZT_SELF_TEST_FAIL");
	if (e && *e && strcmp(e, "0"))
		test_self_fail = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pidfile") && i + 1 < argc)
			pidfile = argv[++i];
		else if (!strcmp(argv[i], "--outfile") && i + 1 < argc)
			outfile = argv[++i];
		else if (!strcmp(argv[i], "--self-test-fail"))
			test_self_fail = 1;
		else
			usage(argv[0]);
	}
	if (outfile && outfile[0] != '/') {
		/* tests chdir(): keep an absolute path */
		char *cwd = getcwd(NULL, 0), *abs;
		if (!cwd || asprintf(&abs, "%s/%s", cwd, outfile) < 0) {
			perror("outfile path");
			exit(2);
		}
		free(cwd);
		outfile = abs;
	}
	root_pid = getpid();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sigterm_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL)) {
		perror("sigaction(SIGTERM)");
		exit(2);
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

void test_ready(void)
{
	char tmp[4096], buf[32];
	int fd, n;

	if (!pidfile)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", pidfile);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		test_msg("open %s: %m", tmp);
		exit(2);
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, n) != n) {
		test_msg("write %s: %m", tmp);
		exit(2);
	}
	close(fd);
	if (rename(tmp, pidfile)) {
		test_msg("rename %s: %m", pidfile);
		exit(2);
	}
}

int test_sigterm_received(void)
{
	return __atomic_load_n(&sigterm_flag, __ATOMIC_SEQ_CST);
}

void test_waitsig(void)
{
	while (!test_sigterm_received())
		zt_futex_wait(&sigterm_flag, 0, NULL);
}

void test_child_reset(void)
{
	__atomic_store_n(&sigterm_flag, 0, __ATOMIC_SEQ_CST);
}

const char *test_tmpdir(void)
{
	const char *d = getenv("ZT_TMPDIR");

	return d && *d ? d : "/tmp";
}

static void write_out(const char *line)
{
	int fd;

	test_msg("%s", line);
	if (!outfile || getpid() != root_pid)
		return;
	fd = open(outfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		test_msg("open %s: %m", outfile);
		return;
	}
	if (write(fd, line, strlen(line)) < 0)
		test_msg("write %s: %m", outfile);
	close(fd);
}

void pass(void)
{
	write_out("PASS\n");
	exit(0);
}

void fail(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "FAIL: ");
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n - 2, fmt, ap);
	va_end(ap);
	strcat(buf, "\n");
	write_out(buf);
	exit(1);
}

void test_err(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	test_msg("error: %s", buf);
	if (!nr_errors++)
		snprintf(first_error, sizeof(first_error), "%s", buf);
}

int test_failed(void)
{
	return nr_errors;
}

void test_result(void)
{
	if (nr_errors)
		fail("%s%s", first_error, nr_errors > 1 ? " (and more, see the log)" : "");
	pass();
}

static inline uint64_t zt_word(uint64_t seed, uint64_t idx)
{
	uint64_t z = seed + idx * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return z | 1; /* never zero: a zero-filled page never matches */
}

void zt_fill(void *addr, size_t len, uint64_t seed)
{
	uint64_t *p = addr;
	size_t n = len / 8;

	for (size_t i = 0; i < n; i++)
		p[i] = zt_word(seed, i);
	for (size_t i = n * 8; i < len; i++)
		((unsigned char *)addr)[i] = (unsigned char)zt_word(seed, i);
}

ssize_t zt_verify(const void *addr, size_t len, uint64_t seed)
{
	const uint64_t *p = addr;
	size_t n = len / 8;

	for (size_t i = 0; i < n; i++)
		if (p[i] != zt_word(seed, i)) {
			const unsigned char *b = (const unsigned char *)&p[i];
			uint64_t want = zt_word(seed, i);
			const unsigned char *w = (const unsigned char *)&want;
			size_t j = 0;

			while (j < 7 && b[j] == w[j])
				j++;
			return (ssize_t)(i * 8 + j);
		}
	for (size_t i = n * 8; i < len; i++)
		if (((const unsigned char *)addr)[i] != (unsigned char)zt_word(seed, i))
			return (ssize_t)i;
	return -1;
}

ssize_t zt_verify_zero(const void *addr, size_t len)
{
	const unsigned char *b = addr;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return (ssize_t)i;
	return -1;
}

int zt_check(const char *what, const void *addr, size_t len, uint64_t seed)
{
	ssize_t off = seed ? zt_verify(addr, len, seed) : zt_verify_zero(addr, len);

	if (off < 0)
		return 0;
	test_err("%s: mismatch at offset %#zx (page %zu) of %#zx bytes at %p", what, (size_t)off,
		 (size_t)off / ZT_PAGE, len, addr);
	return -1;
}

char *zt_read_file(const char *path, size_t *ret_len)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	int fd;

	if (!buf)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return NULL;
	}
	for (;;) {
		ssize_t r;

		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				goto err;
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			goto err;
		}
		if (r == 0)
			break;
		len += r;
	}
	close(fd);
	buf[len] = 0;
	if (ret_len)
		*ret_len = len;
	return buf;
err:
	close(fd);
	free(buf);
	return NULL;
}

int zt_join(unsigned long thread, int seconds, const char *what)
{
	struct timespec ts;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += seconds;
	r = pthread_timedjoin_np((pthread_t)thread, NULL, &ts);
	if (r) {
		test_err("%s: pthread_join: %s (if the thread did return, its clear_child_tid "
			 "was not restored)", what, strerror(r));
		return -1;
	}
	return 0;
}

void test_child_exit(void)
{
	_exit(nr_errors ? 1 : 0);
}

void *zt_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		fail("mmap(MAP_SHARED|MAP_ANONYMOUS, %zu): %m", len);
	return p;
}

void zt_post(int *word, int n)
{
	__atomic_add_fetch(word, n, __ATOMIC_SEQ_CST);
	zt_futex_wake(word, 1000);
}

int zt_wait_ge(int *word, int val, int seconds)
{
	struct timespec end, now, rel;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += seconds;
	for (;;) {
		int cur = __atomic_load_n(word, __ATOMIC_SEQ_CST);

		if (cur >= val)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			return -1;
		/* wake up now and then: a waker's FUTEX_WAKE may come from another
		 * mapping of the word after a restore */
		rel.tv_sec = 0;
		rel.tv_nsec = 100 * 1000 * 1000;
		zt_futex_wait(word, cur, &rel);
	}
}

int zt_waitpid(pid_t pid, int *status, int seconds, const char *what)
{
	struct timespec end, now, nap = { 0, 5 * 1000 * 1000 };

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += seconds;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0) {
			test_err("%s: waitpid(%d): %m", what, (int)pid);
			return -1;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec)) {
			test_err("%s: pid %d did not exit within %d s", what, (int)pid, seconds);
			return -1;
		}
		nanosleep(&nap, NULL);
	}
}

int zt_proc_value(const char *path, const char *key, char *out, size_t len)
{
	char *s = zt_read_file(path, NULL), *p;
	size_t klen = strlen(key);

	if (!s)
		return -1;
	for (p = s; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, klen))
			break;
	if (!p) {
		free(s);
		return -1;
	}
	p += klen;
	while (*p == ' ' || *p == '\t')
		p++;
	snprintf(out, len, "%.*s", (int)strcspn(p, "\n"), p);
	free(s);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void zt_file_locks(unsigned long ino, char *out, size_t len)
{
	char *s = zt_read_file("/proc/locks", NULL), *l, *lines[256], suffix[32];
	int n = 0;

	out[0] = 0;
	if (!s)
		return;
	snprintf(suffix, sizeof(suffix), ":%lu ", ino);
	for (l = strtok(s, "\n"); l && n < 256; l = strtok(NULL, "\n")) {
		char *rest = strchr(l, ':'), *dev;

		if (!rest || strstr(l, "->"))
			continue;
		rest++;
		while (*rest == ' ')
			rest++;
		/* CLASS MODE TYPE PID DEV:INO START END: the 5th field */
		dev = rest;
		for (int f = 0; f < 4 && dev; f++) {
			dev = strchr(dev, ' ');
			while (dev && *dev == ' ')
				dev++;
		}
		if (dev && !strncmp(dev + strcspn(dev, " ") - strlen(suffix) + 1, suffix, strlen(suffix) - 1))
			lines[n++] = rest;
	}
	qsort(lines, n, sizeof(lines[0]), cmp_str);
	for (int i = 0; i < n; i++) {
		/* squeeze the runs of blanks */
		size_t o = strlen(out);

		if (o + 2 >= len)
			break;
		for (char *c = lines[i]; *c && o + 2 < len; c++)
			if (*c != ' ' || (o && out[o - 1] != ' '))
				out[o++] = *c;
		out[o++] = '\n';
		out[o] = 0;
	}
	free(s);
}
