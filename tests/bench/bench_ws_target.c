/*
 * Working-set benchmark workload: PRIV_MB of private anonymous memory and SHM_MB of
 * MAP_SHARED|MAP_ANONYMOUS memory (shmem), every 8 bytes a value of their own. It
 * blocks SIGRTMIN and SIGTERM, opens ANSWERS (a regular file, so that it survives a
 * checkpoint), writes its pid to PIDFILE and then serves requests: each SIGRTMIN is
 * one, its si_value the slice to read (see bench_ws.h). It reads every byte of the
 * slice's pieces, timing the first access of each page, checks the sum against the
 * one computed before the dump, and writes an answer record. SIGTERM: exit 0.
 *
 * Requests arrive as queued real-time signals and are taken with sigwaitinfo(), so
 * nothing but memory, one regular file and pending signals is involved: all of it
 * criu-lite can checkpoint.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_ws.h"

#define PG 4096UL

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t word_of(uint64_t page, uint64_t w)
{
	return ((page + 1) * 0x9e3779b97f4a7c15ull) ^ (w * 0xff51afd7ed558ccdull);
}

struct mem {
	char *priv, *shm;
	size_t priv_len, shm_len, piece;
	uint32_t npieces, per_slice, nslices;
	uint32_t *perm;
	uint64_t *want; /* per slice */
};

static char *piece_addr(const struct mem *m, uint32_t p)
{
	size_t off = (size_t)p * m->piece;
	return off < m->priv_len ? m->priv + off : m->shm + (off - m->priv_len);
}

/* Read slice s; r (may be NULL) gets the timings. Returns the sum. */
static uint64_t read_slice(const struct mem *m, uint32_t s, struct ws_rec *r)
{
	const uint32_t *pc = m->perm + (size_t)(s % m->nslices) * m->per_slice;
	uint64_t sum = 0;

	for (uint32_t i = 0; i < m->per_slice; i++) {
		const char *base = piece_addr(m, pc[i]);
		for (size_t off = 0; off < m->piece; off += PG) {
			const uint64_t *w = (const uint64_t *)(base + off);
			uint64_t t0 = r ? now_ns() : 0, acc = 0;
			for (size_t k = 0; k < PG / 8; k++)
				acc += w[k];
			sum += acc;
			if (r) {
				uint64_t dt = now_ns() - t0;
				r->hist[ws_bucket(dt)]++;
				r->pages++;
				if (dt >= WS_SLOW_NS) {
					r->slow_pages++;
					r->slow_ns += dt;
				}
			}
		}
	}
	return sum;
}

/* This thread's time on a CPU and waiting on a runqueue (ns), context switches and
 * minor faults so far. Read per request: a /proc fd must not be open at the dump. */
static void self_sample(uint64_t v[5])
{
	char buf[128];
	struct rusage ru;
	int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	unsigned long long run = 0, wait = 0;

	if (fd >= 0)
		close(fd);
	if (n > 0) {
		buf[n] = 0;
		if (sscanf(buf, "%llu %llu", &run, &wait) != 2)
			run = wait = 0;
	}
	getrusage(RUSAGE_THREAD, &ru);
	v[0] = run;
	v[1] = wait;
	v[2] = (uint64_t)ru.ru_nvcsw;
	v[3] = (uint64_t)ru.ru_nivcsw;
	v[4] = (uint64_t)ru.ru_minflt;
}

static void fill(char *p, size_t len, uint64_t first_page)
{
	for (size_t off = 0; off < len; off += PG) {
		uint64_t *w = (uint64_t *)(p + off), g = first_page + off / PG;
		for (size_t k = 0; k < PG / 8; k++)
			w[k] = word_of(g, k);
	}
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: bench_ws_target PRIV_MB SHM_MB PIECE_KB PERCENT PIDFILE ANSWERS\n");
		return 2;
	}
	struct mem m = { 0 };
	m.priv_len = strtoul(argv[1], NULL, 0) << 20;
	m.shm_len = strtoul(argv[2], NULL, 0) << 20;
	m.piece = strtoul(argv[3], NULL, 0) << 10;
	unsigned pct = strtoul(argv[4], NULL, 0);
	if (!m.piece || m.piece % PG || m.priv_len % m.piece || m.shm_len % m.piece || !pct || pct > 100) {
		fprintf(stderr, "bench_ws_target: sizes must be multiples of the piece, 1 <= PERCENT <= 100\n");
		return 2;
	}
	m.npieces = (m.priv_len + m.shm_len) / m.piece;
	m.per_slice = (uint32_t)((uint64_t)m.npieces * pct / 100);
	if (!m.per_slice)
		m.per_slice = 1;
	m.nslices = m.npieces / m.per_slice;

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);

	m.priv = mmap(NULL, m.priv_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	m.shm = mmap(NULL, m.shm_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	m.perm = malloc(m.npieces * sizeof(*m.perm));
	m.want = malloc(m.nslices * sizeof(*m.want));
	if (m.priv == MAP_FAILED || m.shm == MAP_FAILED || !m.perm || !m.want) {
		perror("bench_ws_target: setup");
		return 2;
	}
	fill(m.priv, m.priv_len, 0);
	fill(m.shm, m.shm_len, m.priv_len / PG);
	ws_permute(m.perm, m.npieces);
	for (uint32_t s = 0; s < m.nslices; s++)
		m.want[s] = read_slice(&m, s, NULL);

	int afd = open(argv[6], O_RDWR | O_CREAT, 0644);
	if (afd < 0) {
		perror("bench_ws_target: answers file");
		return 2;
	}
	FILE *f = fopen(argv[5], "w");
	if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f)) {
		perror("bench_ws_target: pidfile");
		return 2;
	}

	uint32_t served = 0;
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		if (sig < 0) {
			if (errno == EINTR) /* the dump interrupted the wait */
				continue;
			return 3;
		}
		if (sig == SIGTERM)
			return 0;
		struct ws_rec r;
		uint64_t s0[5], s1[5];
		memset(&r, 0, sizeof(r));
		r.t_recv_ns = now_ns();
		self_sample(s0);
		r.slice = (uint32_t)si.si_value.sival_int % m.nslices;
		r.sum = read_slice(&m, r.slice, &r);
		self_sample(s1);
		r.t_done_ns = now_ns();
		r.run_ns = s1[0] - s0[0];
		r.runq_ns = s1[1] - s0[1];
		r.nvcsw = s1[2] - s0[2];
		r.nivcsw = s1[3] - s0[3];
		r.minflt = s1[4] - s0[4];
		r.want = m.want[r.slice];
		r.ok = r.sum == r.want;
		r.seq = served;
		r.magic = WS_REC_MAGIC;
		if (served < WS_MAX_REQ &&
		    pwrite(afd, &r, sizeof(r), (off_t)served * sizeof(r)) != (ssize_t)sizeof(r))
			return 4;
		served++;
	}
}
