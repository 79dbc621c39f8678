/*
 * The process the RPC tests checkpoint: private and shared anonymous memory filled
 * with a pattern, a counter that keeps ticking into a file, and a check of it all on
 * SIGTERM (exit 0: everything as it should be; 2: memory wrong; 3: the counter
 * went backwards). Its stdio must be /dev/null (or files): that is what criu-lite dumps.
 *
 *   rpc_target TICKFILE PRIVATE_MIB SHARED_MIB
 *
 * Each tick (every 20 ms) appends "tick N\n" to TICKFILE (opened O_APPEND once).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t word(uint64_t i, uint64_t salt)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ULL ^ salt;
	x ^= x >> 29;
	return x * 0xbf58476d1ce4e5b9ULL;
}

static void fill(uint64_t *p, size_t n, uint64_t salt)
{
	for (size_t i = 0; i < n; i++)
		p[i] = word(i, salt);
}

static int check(const uint64_t *p, size_t n, uint64_t salt)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != word(i, salt)) {
			fprintf(stderr, "word %zu: %#llx, expected %#llx\n", i, (unsigned long long)p[i],
				(unsigned long long)word(i, salt));
			return -1;
		}
	return 0;
}

int main(int argc, char **argv)
{
	size_t priv, shared;
	uint64_t *a, *b, ticks = 0, last = 0;
	struct sigaction sa;
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: rpc_target TICKFILE PRIVATE_MIB SHARED_MIB\n");
		return 1;
	}
	priv = strtoul(argv[2], NULL, 10) << 20;
	shared = strtoul(argv[3], NULL, 10) << 20;
	fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	a = mmap(NULL, priv ? priv : 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b = mmap(NULL, shared ? shared : 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (fd < 0 || a == MAP_FAILED || b == MAP_FAILED) {
		perror("rpc_target");
		return 1;
	}
	fill(a, priv / 8, 1);
	fill(b, shared / 8, 2);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	while (!stop) {
		char line[32];
		int n = snprintf(line, sizeof(line), "tick %llu\n", (unsigned long long)++ticks);
		if (ticks <= last)
			return 3;
		last = ticks;
		if (write(fd, line, n) != n)
			return 1;
		nanosleep(&ts, NULL);
	}
	if (check(a, priv / 8, 1) || check(b, shared / 8, 2))
		return 2;
	return 0;
}
