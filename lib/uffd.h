/*
 * userfaultfd: the one owner of the interface (the daemon, restore, the kernel probes
 * and the tests all go through here).
 *
 * The wrappers are non-logging and return 0 or -errno; the copy-like ones report how
 * many bytes were done in *ret_done even when they fail (a partial copy fails with
 * -EAGAIN). uffd_triage() names what a result means; what to do about it depends on
 * the caller (a fault, a prefetch, a probe), but every caller reads results through it:
 *
 *	UFFD_OK      done
 *	UFFD_EXISTS  EEXIST: the page is there already (a race, not an error); a fault
 *	             on it still needs UFFDIO_WAKE
 *	UFFD_AGAIN   EAGAIN: the mm changed under us (fork, mremap, ...): read the
 *	             pending events, then retry
 *	UFFD_NOENT   ENOENT: no VMA there, or the request crossed a VMA boundary: retry
 *	             a multi-page request in halves; a single page is gone
 *	UFFD_GONE    ESRCH (ENOSPC before 4.18): the mm is gone, the task exited
 *	UFFD_FAIL    anything else: fatal for that task
 */
#ifndef CRIU_LITE_UFFD_H
#define CRIU_LITE_UFFD_H

#include <linux/userfaultfd.h>
#include <stdint.h>

/* A new userfaultfd (O_CLOEXEC | O_NONBLOCK and flags), through the syscall or
 * /dev/userfaultfd. fd or -errno. */
int uffd_open(int flags);
/* The same, through one way only (the kernel probes tell the two apart). */
int uffd_open_syscall(int flags);
int uffd_open_dev(int flags);
/* UFFDIO_API: ask for features; returns what the kernel granted. */
int uffd_api(int fd, uint64_t features, uint64_t *ret_features, uint64_t *ret_ioctls);
/* Which features this kernel offers (opens a scratch uffd). 0 or -errno. */
int uffd_probe_features(uint64_t *ret_features);
int uffd_register(int fd, uint64_t start, uint64_t len, uint64_t mode, uint64_t *ret_ioctls);
int uffd_unregister(int fd, uint64_t start, uint64_t len);
int uffd_copy(int fd, uint64_t dst, const void *src, uint64_t len, uint64_t mode,
	      int64_t *ret_done);
int uffd_zeropage(int fd, uint64_t dst, uint64_t len, uint64_t mode, int64_t *ret_done);
int uffd_continue(int fd, uint64_t dst, uint64_t len, uint64_t mode, int64_t *ret_done);
/* UFFDIO_WRITEPROTECT (mode 0: clear, which never makes or changes a page of a range
 * not write-protected). 0 or -errno. */
int uffd_writeprotect(int fd, uint64_t start, uint64_t len, uint64_t mode);
int uffd_wake(int fd, uint64_t start, uint64_t len);

enum uffd_outcome {
	UFFD_OK = 0,
	UFFD_EXISTS,
	UFFD_AGAIN,
	UFFD_NOENT,
	UFFD_GONE,
	UFFD_FAIL,
};

/* What a wrapper's result means (see above). */
enum uffd_outcome uffd_triage(int ret);

#endif
