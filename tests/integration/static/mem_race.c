/* Memory touched all the time, from several threads and two processes, so
 * that a lazy restore sees concurrent faults (on the same pages, on both views
 * of a shmem object, from two tasks sharing it) racing with its prefetch:
 *   priv   32 MiB private anonymous (each process its own copy)
 *   mfd    16 MiB memfd mapped twice (A and B)
 *   sha     8 MiB MAP_SHARED|MAP_ANONYMOUS, shared with the child
 * Readers check random pages continuously; one writer per process rewrites
 * its own pages of mfd through A (checking them through B) and of sha, with a
 * version number in the seed; the other process checks those by reading the
 * version word first. Any mismatch, at any time, fails the test. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

#define MB (1024UL * 1024)
#define PRIV (32 * MB)
#define MFD (16 * MB)
#define SHA (8 * MB)
#define NREADERS 3

static unsigned char *priv, *mfa, *mfb, *sha;
static int stop;
static uint64_t rounds[NREADERS + 1];
static int errors;
static char first[256];

/* a writable page: word 0 = version, rest pattern(seed(page, version)) */
static uint64_t wseed(size_t page, uint64_t ver)
{
	return 0xa0000000ULL + page * 4096 + ver;
}

static void err(const char *what, size_t page, ssize_t off)
{
	if (!__atomic_fetch_add(&errors, 1, __ATOMIC_SEQ_CST))
		snprintf(first, sizeof(first), "%s page %zu differs at offset %zd", what, page, off);
}

/* pages of mfd/sha: even pages are static, odd pages belong to a writer
 * (page % 4 == 1: the parent, == 3: the child) */
static void check_static(const char *what, unsigned char *base, size_t page, uint64_t seed0)
{
	ssize_t off = zt_verify(base + page * ZT_PAGE, ZT_PAGE, seed0 + page);

	if (off >= 0)
		err(what, page, off);
}

static void check_versioned(const char *what, unsigned char *base, size_t page)
{
	volatile uint64_t *w = (uint64_t *)(base + page * ZT_PAGE);

	for (int tries = 0; tries < 200000; tries++) {
		uint64_t v = __atomic_load_n(&w[0], __ATOMIC_ACQUIRE);
		ssize_t off;

		if (v == (uint64_t)-1) { /* the writer is in the middle of an update */
			sched_yield();
			continue;
		}
		off = zt_verify((void *)&w[1], 64, wseed(page, v)); /* pattern from word 1 on */
		if (off < 0 && __atomic_load_n(&w[0], __ATOMIC_ACQUIRE) == v)
			return;
		if (__atomic_load_n(&w[0], __ATOMIC_ACQUIRE) == v) {
			err(what, page, off + 8); /* stable version, wrong data */
			return;
		}
		/* a new version came in meanwhile: retry */
	}
	err(what, page, 8);
}

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 17;
}

static void read_round(uint64_t *s)
{
	size_t p;

	p = lcg(s) % (PRIV / ZT_PAGE);
	check_static("private", priv, p, 0x11000000);
	p = lcg(s) % (MFD / ZT_PAGE);
	if (p % 2 == 0)
		check_static(lcg(s) & 1 ? "memfd view A" : "memfd view B", lcg(s) & 1 ? mfa : mfb, p,
			     0x22000000);
	else
		check_versioned("memfd (versioned)", lcg(s) & 1 ? mfa : mfb, p);
	p = lcg(s) % (SHA / ZT_PAGE);
	if (p % 2 == 0)
		check_static("shared anon", sha, p, 0x33000000);
	else
		check_versioned("shared anon (versioned)", sha, p);
}

static void *reader(void *arg)
{
	long idx = (long)arg;
	uint64_t s = 0x1234 + idx * 977 + getpid();

	while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
		for (int i = 0; i < 64; i++)
			read_round(&s);
		__atomic_add_fetch(&rounds[idx], 1, __ATOMIC_RELAXED);
		usleep(100);
	}
	return NULL;
}

static void write_page(unsigned char *wbase, unsigned char *rbase, size_t page, uint64_t ver)
{
	uint64_t *w = (uint64_t *)(wbase + page * ZT_PAGE);

	/* version word last, with release: readers check pattern against it */
	__atomic_store_n(&w[0], (uint64_t)-1, __ATOMIC_RELEASE);
	zt_fill(&w[1], ZT_PAGE - 8, wseed(page, ver));
	__atomic_store_n(&w[0], ver, __ATOMIC_RELEASE);
	if (rbase) {
		ssize_t off = zt_verify(rbase + page * ZT_PAGE + 8, ZT_PAGE - 8, wseed(page, ver));

		if (off >= 0)
			err("memfd write through A read through B", page, off + 8);
	}
}

/* owner 1 = parent, 3 = child */
static void *writer(void *arg)
{
	long owner = (long)arg;
	uint64_t ver = 1, s = 99 + owner;

	while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
		for (int i = 0; i < 16; i++) {
			size_t p = (lcg(&s) % (MFD / ZT_PAGE / 4)) * 4 + owner;

			write_page(mfa, mfb, p, ver);
			p = (lcg(&s) % (SHA / ZT_PAGE / 4)) * 4 + owner;
			write_page(sha, NULL, p, ver);
			ver++;
		}
		__atomic_add_fetch(&rounds[NREADERS], 1, __ATOMIC_RELAXED);
		usleep(200);
	}
	return NULL;
}

static void init_versioned(unsigned char *base, size_t len)
{
	for (size_t p = 1; p < len / ZT_PAGE; p += 2)
		write_page(base, NULL, p, 0);
}

static int run_threads(int owner, pthread_t *th)
{
	for (long i = 0; i < NREADERS; i++)
		if (pthread_create(&th[i], NULL, reader, (void *)i))
			return -1;
	return pthread_create(&th[NREADERS], NULL, writer, (void *)(long)owner) ? -1 : 0;
}

static int stop_threads(pthread_t *th, const char *who)
{
	uint64_t r0[NREADERS + 1];

	for (int i = 0; i <= NREADERS; i++)
		r0[i] = __atomic_load_n(&rounds[i], __ATOMIC_RELAXED);
	/* every thread must make progress: a round is a few ms, but on a loaded 2-CPU
	 * machine a thread may wait long for its faults; give each up to 10 s */
	for (int i = 0; i <= NREADERS; i++) {
		int waited = 0;
		while (__atomic_load_n(&rounds[i], __ATOMIC_RELAXED) == r0[i] && waited < 10000) {
			usleep(10 * 1000);
			waited += 10;
		}
		if (__atomic_load_n(&rounds[i], __ATOMIC_RELAXED) == r0[i])
			test_err("%s: thread %d is not running any more", who, i);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i <= NREADERS; i++)
		zt_join(th[i], 10, "mem_race thread");
	/* a last full pass over everything */
	for (size_t p = 0; p < PRIV / ZT_PAGE; p++)
		check_static("private (final)", priv, p, 0x11000000);
	for (size_t p = 0; p < MFD / ZT_PAGE; p += 2) {
		check_static("memfd A (final)", mfa, p, 0x22000000);
		check_static("memfd B (final)", mfb, p, 0x22000000);
	}
	for (size_t p = 0; p < SHA / ZT_PAGE; p++) {
		if (p % 2 == 0)
			check_static("shared anon (final)", sha, p, 0x33000000);
		else
			check_versioned("shared anon (final)", sha, p);
	}
	for (size_t p = 1; p < MFD / ZT_PAGE; p += 2) {
		check_versioned("memfd A (final)", mfa, p);
		check_versioned("memfd B (final)", mfb, p);
	}
	return errors;
}

int main(int argc, char **argv)
{
	pthread_t th[NREADERS + 1];
	pid_t kid;
	int fd, st;

	test_init(argc, argv);
	priv = mmap(NULL, PRIV, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	sha = mmap(NULL, SHA, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	fd = memfd_create("zt-mem-race", 0);
	if (fd < 0 || ftruncate(fd, MFD))
		fail("memfd: %m");
	mfa = mmap(NULL, MFD, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	mfb = mmap(NULL, MFD, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (priv == MAP_FAILED || sha == MAP_FAILED || mfa == MAP_FAILED || mfb == MAP_FAILED)
		fail("mmap: %m");
	for (size_t p = 0; p < PRIV / ZT_PAGE; p++)
		zt_fill(priv + p * ZT_PAGE, ZT_PAGE, 0x11000000 + p);
	for (size_t p = 0; p < MFD / ZT_PAGE; p += 2)
		zt_fill(mfa + p * ZT_PAGE, ZT_PAGE, 0x22000000 + p);
	for (size_t p = 0; p < SHA / ZT_PAGE; p += 2)
		zt_fill(sha + p * ZT_PAGE, ZT_PAGE, 0x33000000 + p);
	init_versioned(mfa, MFD);
	init_versioned(sha, SHA);

	kid = fork();
	if (kid < 0)
		fail("fork: %m");
	if (kid == 0) {
		test_child_reset();
		if (run_threads(3, th))
			_exit(2);
		test_waitsig();
		_exit(stop_threads(th, "child") || test_failed() ? 1 : 0);
	}
	if (run_threads(1, th))
		fail("pthread_create");
	usleep(100 * 1000);

	test_ready();
	test_waitsig();
	if (test_self_fail)
		priv[5 * ZT_PAGE + 100] ^= 1;

	kill(kid, SIGTERM);
	stop_threads(th, "parent");
	if (waitpid(kid, &st, 0) != kid || !WIFEXITED(st) || WEXITSTATUS(st))
		test_err("child failed: status %#x", st);
	if (errors)
		test_err("%d mismatches, the first: %s", errors, first);
	test_result();
}
