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

/* For a forked child that verified its own part: _exit(0) if it recorded no
 * test_err, else _exit(1) (its messages are in the log). */
void test_child_exit(void) __attribute__((noreturn));

/* Handshakes between the processes of a test, without any fd: a counter in
 * shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, zeroed; fail()s if it
 * can't be mapped), zt_post() adds to it and wakes its waiters, zt_wait_ge()
 * waits until it reaches val, at most `seconds` (0, or -1 on timeout: the
 * limit only keeps a broken restore from hanging the test). */
void *zt_shared(size_t len);
void zt_post(int *word, int n);
int zt_wait_ge(int *word, int val, int seconds);

/* waitpid() with a time limit: 0 and *status, or -1 (test_err naming what). */
int zt_waitpid(pid_t pid, int *status, int seconds, const char *what);

/* The rest of the line after "key" in a /proc file such as /proc/self/status or
 * /proc/self/fdinfo/N (leading blanks skipped), into out; 0, or -1 if absent. */
int zt_proc_value(const char *path, const char *key, char *out, size_t len);

/* The locks /proc/locks lists on inode ino (blocked waiters left out), each
 * as "CLASS MODE TYPE PID DEV:INO START END" without the ordinal, sorted,
 * one per line, into out. */
void zt_file_locks(unsigned long ino, char *out, size_t len);

/* Thin wrappers. */
pid_t zt_gettid(void);
long zt_futex_wait(int *uaddr, int val, const void *timeout);
long zt_futex_wake(int *uaddr, int n);

#endif
