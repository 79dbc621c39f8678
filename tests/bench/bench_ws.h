/*
 * Shared between the working-set benchmark's driver (bench_ws.c) and its workload
 * (bench_ws_target.c): the answer records and the page-touch histogram.
 *
 * The workload's memory is split into pieces (64 KiB by default), numbered over the
 * private half first, then the shared half. A fixed permutation of the pieces (seeded,
 * so the same in every run) is cut into slices of PERCENT% of the memory each: a
 * request names a slice, and the workload reads every byte of its pieces in the
 * permutation's order (scattered). The "fixed" workload asks for slice 0 every time;
 * the "rotating" one for a different slice each time.
 *
 * Each answer is one record, written with pwrite at slot (answers so far) of the
 * answers file, a regular file the workload opened before the dump.
 */
#ifndef CRIU_LITE_BENCH_WS_H
#define CRIU_LITE_BENCH_WS_H

#include <stdint.h>

#define WS_REC_MAGIC 0x57534152u /* "WSAR" */
#define WS_MAX_REQ 64            /* slots in the answers file */
#define WS_HIST 80               /* quarter-octave buckets from 64 ns up to ~67 ms */
#define WS_SEED 0x5eed1234abcdull

struct ws_rec {
	uint32_t magic;
	uint32_t seq;        /* answers before this one since the dump */
	uint32_t slice;
	uint32_t ok;         /* 1: the data read matched what it was before the dump */
	uint64_t t_recv_ns;  /* CLOCK_MONOTONIC: the request was dequeued */
	uint64_t t_done_ns;  /* ... and answered */
	uint64_t sum, want;  /* what was read, what it should be */
	uint64_t pages;      /* pages read */
	uint64_t slow_pages; /* pages whose first access took >= WS_SLOW_NS */
	uint64_t slow_ns;    /* their total time */
	/* the task during the request (its thread's schedstat and rusage): on a CPU, waiting
	 * for one (runnable), blocked = the rest; context switches; minor faults */
	uint64_t run_ns, runq_ns, nvcsw, nivcsw, minflt;
	uint32_t hist[WS_HIST]; /* first access of every page, by time */
};

#define WS_SLOW_NS 2000 /* a first access this slow took a fault served by someone else */

/* Quarter-octave bucket of ns: 4 * log2(ns / 64), by the top bits. */
static inline unsigned ws_bucket(uint64_t ns)
{
	uint64_t x = ns >> 6;
	if (!x)
		return 0;
	unsigned msb = 63 - __builtin_clzll(x);
	unsigned frac = msb >= 2 ? (unsigned)(x >> (msb - 2)) & 3 : (unsigned)(x << (2 - msb)) & 3;
	unsigned b = msb * 4 + frac;
	return b < WS_HIST ? b : WS_HIST - 1;
}

/* The lower bound of bucket b, in ns. */
static inline double ws_bucket_ns(unsigned b)
{
	return 64.0 * (double)(1ull << (b / 4)) * (1.0 + (b % 4) / 4.0);
}

/* The permutation of npieces pieces (xorshift64*, Fisher-Yates). */
static inline void ws_permute(uint32_t *perm, uint32_t npieces)
{
	uint64_t s = WS_SEED;
	for (uint32_t i = 0; i < npieces; i++)
		perm[i] = i;
	for (uint32_t i = npieces; i > 1; i--) {
		s ^= s >> 12;
		s ^= s << 25;
		s ^= s >> 27;
		uint32_t j = (uint32_t)((s * 0x2545f4914f6cdd1dull) >> 32) % i;
		uint32_t t = perm[i - 1];
		perm[i - 1] = perm[j];
		perm[j] = t;
	}
}

#endif
