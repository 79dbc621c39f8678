/* tests/uffd: the case table and the benchmark. */
#ifndef CRIU_LITE_TESTS_UFFD_H
#define CRIU_LITE_TESTS_UFFD_H

#include <stdint.h>

struct tc;

struct tcase {
	const char *name;
	int (*fn)(struct tc *c);
	const char *mem;   /* anon, shmem, anon+shmem */
	uint64_t features; /* UFFD_FEATURE_* the case needs: skipped without them */
	const char *desc;
};

/* uffd_bench.c: fault latency (raw floor vs lp_loop) and bandwidth. Exit status. */
int uffd_bench(int verbose);
/* One fd over a unix socket (SCM_RIGHTS); recv_fd waits at most the case timeout. */
int t_send_fd(int sock, int fd);
int t_recv_fd(int sock);

#endif
