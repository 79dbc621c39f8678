/*
 * Benchmark target: touches PRIV_MB of private anonymous memory and SHM_MB of a
 * memfd mapped shared, each page with a distinct pattern, writes its pid to the
 * file given as argv[3] when ready, and on SIGTERM verifies every page and exits
 * 0 (all intact) or 1.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static long check(const char *p, size_t len, uint64_t seed)
{
	for (size_t off = 0; off < len; off += PG) {
		uint64_t v = (seed + off) * 0x9e3779b97f4a7c15ull;
		for (size_t b = 0; b < PG; b += 512)
			if (memcmp(p + off + b, &v, sizeof(v)))
				return (long)(off + b);
	}
	return -1;
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
	if (s == MAP_FAILED) {
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
	long bad_priv = check(a, priv, 1), bad_shm = check(s, shm, 2);
	char rpath[4096];
	snprintf(rpath, sizeof(rpath), "%s.result", argv[3]);
	f = fopen(rpath, "w");
	if (f) {
		if (bad_priv >= 0)
			fprintf(f, "FAIL: private memory differs at +%ld\n", bad_priv);
		else if (bad_shm >= 0)
			fprintf(f, "FAIL: shmem differs at +%ld\n", bad_shm);
		else
			fprintf(f, "PASS\n");
		fclose(f);
	}
	return bad_priv >= 0 || bad_shm >= 0;
}
