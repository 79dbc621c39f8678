#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

static int log_level = LOG_WARN;
static int log_fd = STDERR_FILENO;
static struct timespec log_start;
/* The first error logged since log_init (without the time prefix or the newline):
 * the RPC server's cr_errmsg, as CRIU answers with its first error line. */
static char log_first_err[512];
/* User-facing messages go to stdout too, unless stdout is not ours to write (swrk). */
static bool log_msg_stdout = true;

void log_set_msg_stdout(bool on)
{
	log_msg_stdout = on;
}

void log_shift_clock(int64_t ns)
{
	int64_t t = log_start.tv_sec * 1000000000LL + log_start.tv_nsec + ns;

	if (!ns || (log_start.tv_sec == 0 && log_start.tv_nsec == 0))
		return;
	log_start.tv_sec = t / 1000000000LL;
	log_start.tv_nsec = t % 1000000000LL;
}

int log_init(int level, const char *path)
{
	if (level < 0)
		level = 0;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	log_level = level;
	clock_gettime(CLOCK_MONOTONIC, &log_start);
	if (path && strcmp(path, "-") != 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0) {
			int e = errno;
			dprintf(STDERR_FILENO, "Error: can't open log file %s: %s\n", path, strerror(e));
			errno = e;
			return -1;
		}
		if (log_fd != STDERR_FILENO)
			close(log_fd);
		log_fd = fd;
	}
	return 0;
}

int log_init_in_dir(int level, const char *dir, const char *path)
{
	char full[4096];

	if (path && dir && path[0] != '/' && strcmp(path, "-") != 0) {
		if ((size_t)snprintf(full, sizeof(full), "%s/%s", dir, path) >= sizeof(full)) {
			dprintf(STDERR_FILENO, "Error: log file path %s/%s is too long\n", dir, path);
			errno = ENAMETOOLONG;
			return -1;
		}
		path = full;
	}
	return log_init(level, path);
}

void log_fini(void)
{
	if (log_fd != STDERR_FILENO) {
		close(log_fd);
		log_fd = STDERR_FILENO;
	}
}

int log_parse_verbosity(const char *arg, int *ret_level)
{
	size_t nv;

	if (!arg) {
		*ret_level = LOG_WARN + 1;
		return 0;
	}
	nv = strspn(arg, "v");
	if (arg[nv] == '\0' && nv > 0) {
		*ret_level = LOG_WARN + 1 + (int)nv > LOG_DEBUG ? LOG_DEBUG : LOG_WARN + 1 + (int)nv;
		return 0;
	}
	if (arg[0] >= '0' && arg[0] <= '0' + LOG_DEBUG && arg[1] == '\0') {
		*ret_level = arg[0] - '0';
		return 0;
	}
	return -1;
}

int log_get_level(void)
{
	return log_level;
}

int log_get_fd(void)
{
	return log_fd;
}

const char *log_first_error(void)
{
	return log_first_err[0] ? log_first_err : NULL;
}

static void note_first_error(const char *msg, size_t len)
{
	if (log_first_err[0])
		return;
	while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		len--;
	if (len >= sizeof(log_first_err))
		len = sizeof(log_first_err) - 1;
	memcpy(log_first_err, msg, len);
	log_first_err[len] = '\0';
}

void log_vprintf(int level, const char *fmt, va_list ap)
{
	char buf[4096];
	int n = 0, e = errno;

	if (level == LOG_ERROR && !log_first_err[0]) {
		/* noted even when the level hides it: a failed RPC answer carries it */
		va_list aq;
		va_copy(aq, ap);
		int m = vsnprintf(buf, sizeof(buf), fmt, aq);
		va_end(aq);
		if (m > 0)
			note_first_error(buf, (size_t)m < sizeof(buf) ? (size_t)m : sizeof(buf) - 1);
	}
	if (level > log_level)
		return;
	if (level != LOG_MSG && log_level >= LOG_INFO) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (log_start.tv_sec == 0 && log_start.tv_nsec == 0)
			log_start = now;
		double t = (now.tv_sec - log_start.tv_sec) + (now.tv_nsec - log_start.tv_nsec) / 1e9;
		n = snprintf(buf, sizeof(buf), "(%.6f) %d: ", t, (int)getpid());
	}
	int m = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n >= (int)sizeof(buf))
		n = sizeof(buf) - 1;
	/* One write per message so that messages from several processes don't interleave.
	 * User-facing messages (LOG_MSG) go to stdout, as in CRIU, and into a log file too. */
	if (level == LOG_MSG && log_msg_stdout && write(STDOUT_FILENO, buf, n) < 0) {
		/* nowhere left to report it */
	}
	if ((level != LOG_MSG || log_fd != STDERR_FILENO) && write(log_fd, buf, n) < 0) {
		/* nowhere left to report it */
	}
	errno = e;
}

void log_printf(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vprintf(level, fmt, ap);
	va_end(ap);
}
