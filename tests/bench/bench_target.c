/*
 * Benchmark target: touches PRIV_MB of private anonymous memory and SHM_MB of a
 * memfd mapped shared (and mapped a second time, untouched), each page with a
 * distinct pattern, writes its pid to the
 * file given as argv[3] when ready, and on SIGTERM verifies every page and exits
 * 0 (all intact) or 1. The verify times the first access of every page (after a
 * lazy restore: the fault, served by the daemon) and reports the percentiles: the
 * private pages, the shmem through its first mapping, then through the second one
 * (after a lazy restore without prefetch: MISSING, MISSING, then MINOR faults, the
 * first mapping's faults having put the pages in the object's page cache).
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG 4096UL

static volatile sig_atomic_t got_term;

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static void fill(char *p, size_t len, uint64_t seed)
{
	for (size_t off = 0; off < len; off += PG) {
		uint64_t v = (seed + off) * 0x9e3779b97f4a7c15ull;
		for (size_t b = 0; b < PG; b += 512)
			memcpy(p + off + b, &v, sizeof(v));
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Verify; lat (one per page, may be NULL) gets the first access's time in ns. */
static long check(const char *p, size_t len, uint64_t seed, uint32_t *lat)
{
	for (size_t off = 0; off < len; off += PG) {
		uint64_t v = (seed + off) * 0x9e3779b97f4a7c15ull;
		uint64_t t0 = now_ns();
		uint64_t first = *(volatile const uint64_t *)(p + off);
		uint64_t dt = now_ns() - t0;
		if (lat)
			lat[off / PG] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
		if (first != v)
			return (long)off;
		for (size_t b = 512; b < PG; b += 512)
			if (memcmp(p + off + b, &v, sizeof(v)))
				return (long)(off + b);
	}
	return -1;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* "p50 p99 max" in us */
static void pcts(FILE *f, uint32_t *v, size_t n)
{
	if (!v || !n) {
		fprintf(f, " -1 -1 -1");
		return;
	}
	qsort(v, n, sizeof(*v), cmp_u32);
	fprintf(f, " %.2f %.2f %.2f", v[n / 2] / 1e3, v[(n * 99) / 100] / 1e3, v[n - 1] / 1e3);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: bench_target PRIV_MB SHM_MB PIDFILE\n");
		return 2;
	}
	size_t priv = strtoul(argv[1], NULL, 0) << 20, shm = strtoul(argv[2], NULL, 0) << 20;
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);

	char *a = mmap(NULL, priv, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = memfd_create("bench-shm", 0);
	if (a == MAP_FAILED || fd < 0 || ftruncate(fd, shm) < 0) {
		perror("bench_target: setup");
		return 2;
	}
	char *s = mmap(NULL, shm, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *s2 = mmap(NULL, shm, PROT_READ, MAP_SHARED, fd, 0);
	if (s == MAP_FAILED || s2 == MAP_FAILED) {
		perror("bench_target: mmap shm");
		return 2;
	}
	close(fd);
	fill(a, priv, 1);
	fill(s, shm, 2);

	FILE *f = fopen(argv[3], "w");
	if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f)) {
		perror("bench_target: pidfile");
		return 2;
	}
	while (!got_term)
		pause();
	/* The verdict goes to PIDFILE.result: a detached restore can't wait for us. */
	/* mapped now: new memory, not part of what was restored */
	uint32_t *lp = mmap(NULL, (priv / PG + 2 * (shm / PG) + 3) * sizeof(uint32_t),
			    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (lp == MAP_FAILED)
		lp = NULL;
	uint32_t *ls = lp ? lp + priv / PG + 1 : NULL, *ls2 = lp ? ls + shm / PG + 1 : NULL;
	long bad_priv = check(a, priv, 1, lp), bad_shm = check(s, shm, 2, ls);
	long bad_shm2 = check(s2, shm, 2, ls2);
	char rpath[4096];
	snprintf(rpath, sizeof(rpath), "%s.result", argv[3]);
	f = fopen(rpath, "w");
	if (f) {
		if (bad_priv >= 0)
			fprintf(f, "FAIL: private memory differs at +%ld\n", bad_priv);
		else if (bad_shm >= 0)
			fprintf(f, "FAIL: shmem differs at +%ld\n", bad_shm);
		else if (bad_shm2 >= 0)
			fprintf(f, "FAIL: shmem differs at +%ld in its second mapping\n", bad_shm2);
		else
			fprintf(f, "PASS\n");
		/* second line: first-access latency, private, shmem, shmem again through
		 * the second mapping: p50 p99 max (us) each */
		fprintf(f, "lat");
		pcts(f, lp, priv / PG);
		pcts(f, ls, shm / PG);
		pcts(f, ls2, shm / PG);
		fprintf(f, "\n");
		fclose(f);
	}
	return bad_priv >= 0 || bad_shm >= 0 || bad_shm2 >= 0;
}
