/*
 * The demo's sample program: 64 MiB of private memory, a 32 MiB memfd mapped
 * twice and 16 MiB of MAP_SHARED|MAP_ANONYMOUS memory, each page holding a value
 * derived from its index and a generation counter. Every 250 ms it advances the
 * generation of a few pages, checks a sample of all of them, and prints a line;
 * on SIGTERM it checks every page and exits 0 if all are intact.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PG 4096UL
#define PRIV (64UL << 20)
#define MFD (32UL << 20)
#define SHA (16UL << 20)

static volatile sig_atomic_t stop;

static void on_term(int s)
{
	(void)s;
	stop = 1;
}

static uint64_t val(uint64_t region, uint64_t page, uint64_t gen)
{
	return (region << 56) ^ (page * 0x9e3779b97f4a7c15ull) ^ gen;
}

/* Each page: u64 generation, then the value repeated. */
static void put(char *base, uint64_t region, uint64_t page, uint64_t gen)
{
	uint64_t *p = (uint64_t *)(base + page * PG), v = val(region, page, gen);
	p[0] = gen;
	for (size_t i = 1; i < PG / 8; i += 64)
		p[i] = v;
}

static int ok(const char *base, uint64_t region, uint64_t page)
{
	const uint64_t *p = (const uint64_t *)(base + page * PG);
	uint64_t v = val(region, page, p[0]);
	for (size_t i = 1; i < PG / 8; i += 64)
		if (p[i] != v)
			return 0;
	return 1;
}

static long check_all(const char *base, uint64_t region, size_t len)
{
	for (uint64_t pg = 0; pg < len / PG; pg++)
		if (!ok(base, region, pg))
			return (long)pg;
	return -1;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);

	char *priv = mmap(NULL, PRIV, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = memfd_create("demo-shmem", 0);
	if (priv == MAP_FAILED || fd < 0 || ftruncate(fd, MFD) < 0) {
		perror("demo: setup");
		return 2;
	}
	char *m1 = mmap(NULL, MFD, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *m2 = mmap(NULL, MFD, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *sha = mmap(NULL, SHA, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m1 == MAP_FAILED || m2 == MAP_FAILED || sha == MAP_FAILED) {
		perror("demo: mmap");
		return 2;
	}
	close(fd);
	for (uint64_t pg = 0; pg < PRIV / PG; pg++)
		put(priv, 1, pg, 0);
	for (uint64_t pg = 0; pg < MFD / PG; pg++)
		put(m1, 2, pg, 0);
	for (uint64_t pg = 0; pg < SHA / PG; pg++)
		put(sha, 3, pg, 0);
	printf("demo: pid %d: 64 MiB private, 32 MiB memfd mapped twice, 16 MiB shared anonymous\n",
	       getpid());

	uint64_t tick = 0, seed = 1;
	while (!stop) {
		struct timespec ts = { 0, 250 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (stop)
			break;
		tick++;
		int bad = 0;
		for (int i = 0; i < 64; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t a = (seed >> 20) % (PRIV / PG), b = (seed >> 30) % (MFD / PG),
				 c = (seed >> 40) % (SHA / PG);
			bad |= !ok(priv, 1, a) || !ok(m2, 2, b) || !ok(sha, 3, c);
			/* a write through one view of the memfd must show in the other */
			put(priv, 1, a, tick);
			put(m1, 2, b, tick);
			put(sha, 3, c, tick);
			bad |= !ok(m2, 2, b);
		}
		printf("demo: tick %llu: %s\n", (unsigned long long)tick,
		       bad ? "MEMORY DIFFERS" : "sampled pages intact, both memfd views agree");
		if (bad)
			return 1;
	}
	long b1 = check_all(priv, 1, PRIV), b2 = check_all(m2, 2, MFD), b3 = check_all(sha, 3, SHA);
	if (b1 >= 0 || b2 >= 0 || b3 >= 0) {
		printf("demo: FAILED: page %ld/%ld/%ld differs\n", b1, b2, b3);
		return 1;
	}
	printf("demo: after %llu ticks every page of all 112 MiB is intact\n", (unsigned long long)tick);
	return 0;
}
