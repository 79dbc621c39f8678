/* ztest: the small library every tests/integration/static/<name>.c links.
 *
 * Protocol with the runner (modeled on CRIU's zdtm):
 *   1. the runner starts the program in the background with
 *      --pidfile F --outfile O (or ZT_PIDFILE / ZT_OUTFILE in the environment);
 *   2. the program sets its state up, then test_ready() writes the pid file
 *      (atomically): that is "ready, dump me now";
 *   3. test_waitsig() sleeps until SIGTERM (a futex wait, restartable);
 *   4. the program verifies everything and ends with pass() or fail(), which
 *      open the outfile *by path* only then (an fd opened earlier would be part
 *      of the dumped state), append "PASS" or "FAIL: reason" and exit 0 / 1.
 *
 * --self-test-fail (or ZT_SELF_TEST_FAIL=1) sets test_self_fail: each test then
 * corrupts one piece of its state after SIGTERM, so that its verification can
 * be shown to fail (run.py --self-test-fail checks every case FAILs).
 */
#ifndef ZTEST_H
#define ZTEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ZT_PAGE 4096UL

extern int test_self_fail;

/* Parses the options, installs the SIGTERM handler. Call first. */
void test_init(int argc, char **argv);
/* Setup is complete: write the pid file. */
void test_ready(void);
/* Block until SIGTERM has been received (returns at once if it already was). */
void test_waitsig(void);
/* Has SIGTERM been received? */
int test_sigterm_received(void);
/* For a forked child that will wait for its own SIGTERM. */
void test_child_reset(void);

/* Messages to stderr (the runner keeps it in the case's log). */
void test_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* End of test. fail() also works from a forked child (exit status 1), but only
 * the root process of a test should write the outfile: children use
 * test_child_exit(). */
void pass(void) __attribute__((noreturn));
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Record a failure and continue (so that all differences are reported);
 * test_failed() says whether any was recorded, test_result() ends with
 * pass() or fail() accordingly. */
void test_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int test_failed(void);
void test_result(void) __attribute__((noreturn));

/* Directory for the test's files: $ZT_TMPDIR or /tmp. */
const char *test_tmpdir(void);

/* Deterministic per-page patterns: each 8-byte word depends on seed and on its
 * offset from the start of the region, so a page moved or swapped is caught.
 * zt_verify returns -1 if the region matches, else the first bad byte offset. */
void zt_fill(void *addr, size_t len, uint64_t seed);
ssize_t zt_verify(const void *addr, size_t len, uint64_t seed);
/* -1 if every byte is zero, else the first non-zero offset. */
ssize_t zt_verify_zero(const void *addr, size_t len);
/* Check a region and record a failure (with name and offset) if it differs;
 * returns 0 if good. seed 0 means "must be all zero". */
int zt_check(const char *what, const void *addr, size_t len, uint64_t seed);

/* Read a whole file into a malloc'd NUL-terminated buffer (NULL on error). */
char *zt_read_file(const char *path, size_t *ret_len);

/* pthread_join with a time limit: a thread whose exit is never reported (its
 * clear_child_tid not restored) must not hang the test. 0 or -1 (test_err). */
int zt_join(unsigned long thread, int seconds, const char *what);

/* Thin wrappers. */
pid_t zt_gettid(void);
long zt_futex_wait(int *uaddr, int val, const void *timeout);
long zt_futex_wake(int *uaddr, int n);

#endif
