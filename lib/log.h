/* Logging: one message, once, where the error happens. */
#ifndef CRIU_LITE_LOG_H
#define CRIU_LITE_LOG_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_MSG = 0,   /* always printed, no prefix: user-facing output */
	LOG_ERROR = 1,
	LOG_WARN = 2,  /* the default */
	LOG_INFO = 3,
	LOG_DEBUG = 4,
};

#ifndef LOG_PREFIX
#define LOG_PREFIX ""
#endif

/* Set the verbosity (0..4) and, if path is non-NULL, send the log there. */
int log_init(int level, const char *path);
/* As log_init, but a relative path is taken in dir (the images directory), as
 * CRIU does; dir may be NULL. */
int log_init_in_dir(int level, const char *dir, const char *path);
void log_fini(void);
int log_get_level(void);
/*
 * Parse CRIU's verbosity option: "-v" alone (optarg NULL) is one step above the
 * default, "-vv"/"-vvv" (optarg "v"/"vv") add a step each, "-v0".."-v4" set it.
 * Returns 0 with *ret_level set, or -1 (not logged) for anything else.
 */
int log_parse_verbosity(const char *optarg, int *ret_level);
/* The log fd (stderr unless log_init opened a file). */
int log_get_fd(void);
/* The first error message logged since log_init ("Error (file:line): ...", without the
 * newline), or NULL: what a failed RPC answer carries as cr_errmsg. */
const char *log_first_error(void);
/* Whether user-facing messages (LOG_MSG) also go to stdout (the default), or only to the
 * log: the RPC server's stdout may be a restored container's. */
void log_set_msg_stdout(bool on);
/* This process's CLOCK_MONOTONIC moved by NS (it entered a time namespace): log times
 * go on from where they were. */
void log_shift_clock(int64_t ns);

void log_printf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vprintf(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define pr_msg(fmt, ...) log_printf(LOG_MSG, fmt, ##__VA_ARGS__)
#define pr_err(fmt, ...) \
	log_printf(LOG_ERROR, "Error (%s:%d): " LOG_PREFIX fmt, __FILE__, __LINE__, ##__VA_ARGS__)
#define pr_warn(fmt, ...) log_printf(LOG_WARN, "Warn: " LOG_PREFIX fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...) log_printf(LOG_INFO, LOG_PREFIX fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...)                                              \
	do {                                                            \
		if (log_get_level() >= LOG_DEBUG)                       \
			log_printf(LOG_DEBUG, LOG_PREFIX fmt, ##__VA_ARGS__); \
	} while (0)

/* Log with the current errno appended; errno is preserved. */
#define pr_perror(fmt, ...)                                                    \
	do {                                                                   \
		int __e = errno;                                               \
		pr_err(fmt ": %s\n", ##__VA_ARGS__, strerror(__e));            \
		errno = __e;                                                   \
	} while (0)

#include <string.h>

#endif
