/*
 * The process of the container benchmark (bench_containers.py): MB MiB of memory, half
 * private anonymous, half System V shared memory (or, with --devshm, a file in
 * /dev/shm), every page written with a pattern of its own. It then answers requests
 * on stdin, one byte each, on stdout:
 *   'q'  (a query) reads one word of a private page and one of a shared page, chosen
 *        by the request's number, and answers "ok N WORD\n": an answer touches the
 *        memory it needs, as a real server does, and nothing more;
 *   'v'  (verify) checks every page and answers "verified\n" or "bad ...\n".
 * "ready\n" once the memory is written. Linked statically: it runs on a busybox root.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#define PAGE 4096UL

static uint64_t word_of(uint64_t region, uint64_t page)
{
	return (region + 1) * 0x9e3779b97f4a7c15ULL ^ (page * 0xbf58476d1ce4e5b9ULL);
}

static void fill(uint64_t *p, size_t pages, uint64_t region)
{
	for (size_t i = 0; i < pages; i++) {
		uint64_t w = word_of(region, i);
		for (size_t k = 0; k < PAGE / 8; k++)
			p[i * (PAGE / 8) + k] = w + k;
	}
}

static long bad_page(const uint64_t *p, size_t pages, uint64_t region)
{
	for (size_t i = 0; i < pages; i++) {
		uint64_t w = word_of(region, i);
		for (size_t k = 0; k < PAGE / 8; k++)
			if (p[i * (PAGE / 8) + k] != w + k)
				return (long)i;
	}
	return -1;
}

static void say(const char *s)
{
	size_t n = strlen(s);
	if (write(1, s, n) != (ssize_t)n)
		_exit(3);
}

int main(int argc, char **argv)
{
	size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
	int devshm = argc > 2 && !strcmp(argv[2], "--devshm");
	size_t half = mb << 19, pages = half / PAGE;
	uint64_t *priv, *shared, n = 0;
	char buf[128], c;

	priv = mmap(NULL, half, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (devshm) {
		int fd = open("/dev/shm/bench", O_RDWR | O_CREAT, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)half) < 0)
			return 1;
		shared = mmap(NULL, half, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
	} else {
		int id = shmget(IPC_PRIVATE, half, IPC_CREAT | 0600);
		shared = id < 0 ? MAP_FAILED : shmat(id, NULL, 0);
	}
	if (priv == MAP_FAILED || shared == MAP_FAILED || shared == NULL) {
		snprintf(buf, sizeof(buf), "setup failed: %s\n", strerror(errno));
		say(buf);
		return 1;
	}
	fill(priv, pages, 1);
	fill(shared, pages, 2);
	say("ready\n");
	while (read(0, &c, 1) == 1) {
		if (c == 'q') {
			uint64_t pg = (n * 2654435761ULL) % pages;
			uint64_t w = priv[pg * (PAGE / 8)] ^ shared[((pg * 7 + 3) % pages) * (PAGE / 8) + 1];
			snprintf(buf, sizeof(buf), "ok %llu %llx\n", (unsigned long long)n++, (unsigned long long)w);
			say(buf);
		} else if (c == 'v') {
			long a = bad_page(priv, pages, 1), b = bad_page(shared, pages, 2);
			if (a < 0 && b < 0)
				snprintf(buf, sizeof(buf), "verified\n");
			else
				snprintf(buf, sizeof(buf), "bad private page %ld, shared page %ld\n", a, b);
			say(buf);
		}
	}
	return 0;
}
