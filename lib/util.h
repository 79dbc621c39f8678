/* Small helpers shared by every module. */
#ifndef CRIU_LITE_UTIL_H
#define CRIU_LITE_UTIL_H

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#ifndef PAGE_SIZE
#define PAGE_SIZE 4096UL
#endif
#define PAGE_SHIFT 12
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline void freep(void *p)
{
	free(*(void **)p);
}

/* close() that keeps errno and is never retried (the fd is gone even on EINTR). */
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int e = errno;
		close(*fd);
		errno = e;
		*fd = -1;
	}
}

/* Kill and reap a child we created; -1 or 0 means none. */
static inline void killpidp(pid_t *pid)
{
	if (*pid > 0) {
		int e = errno;
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
		errno = e;
		*pid = -1;
	}
}

#define cleanup_free __attribute__((cleanup(freep)))
#define cleanup_close __attribute__((cleanup(closep)))
#define cleanup_pid __attribute__((cleanup(killpidp)))

/* Move ownership out of a cleanup scope. */
static inline int steal_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

static inline void *steal_ptr(void *pp)
{
	void **p = pp;
	void *r = *p;
	*p = NULL;
	return r;
}
#define steal_pointer(pp) ((__typeof__(*(pp)))steal_ptr(pp))

/* Read/write all of buf, retrying short transfers and EINTR. Return 0 or -1 (errno set;
 * a short read at EOF gives -1 with errno = ENODATA). No logging. */
int read_all(int fd, void *buf, size_t len);
int write_all(int fd, const void *buf, size_t len);
int pread_all(int fd, void *buf, size_t len, off_t off);
int pwrite_all(int fd, const void *buf, size_t len, off_t off);

/* Read a whole small file (at most max bytes) into a NUL-terminated heap buffer.
 * Returns the buffer or NULL (logged). */
char *read_file_str(int dirfd, const char *path, size_t max, size_t *ret_len);

/* Parse an unsigned decimal/hex number with full validation. 0 or -1 (no logging). */
int parse_u64(const char *s, int base, uint64_t *ret);

/* Monotonic time in nanoseconds. */
uint64_t now_ns(void);

/* A 32-bit message with at most one fd (SCM_RIGHTS) on a unix socket; fd -1: the
 * message alone. 0 or -1 (errno set; the caller logs). recv_fd: *ret_fd -1 when none
 * came (received close-on-exec). */
int send_fd(int sk, uint32_t msg, int fd);
int recv_fd(int sk, uint32_t *msg, int *ret_fd);

#endif
