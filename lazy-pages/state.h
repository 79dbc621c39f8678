/*
 * The lazy-pages daemon's state: struct lp_loop owns the epoll, the tasks (one per
 * uffd), the shmem objects, the buffers and the statistics; there are no file-scope
 * globals. This module holds the data and what the tasks record into it (faults seen,
 * working-set records, latencies, shmem objects); loop.c runs it, task.c serves the
 * faults and events of one uffd, stats.c reports it.
 */
#ifndef CRIU_LITE_LP_STATE_H
#define CRIU_LITE_LP_STATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lazy-pages/ranges.h"
#include "lazy-pages/source.h"

/* An fd in the loop's epoll. Handlers return <0 error, 0 continue, >0 re-plan. */
struct lp_fd {
	int fd;
	int (*on_read)(struct lp_fd *f);
	int (*on_hup)(struct lp_fd *f);
};

#define LP_CHUNK_MIN (64u << 10)
#define LP_BUSY_POLL_US_DEFAULT 100
#define LP_CHUNK_MAX (4u << 20)

enum lp_prefetch {
	LP_PREFETCH_NONE = 0, /* faults only */
	LP_PREFETCH_ALL = 1,  /* stream everything after "restore finished" */
	LP_PREFETCH_HOT = 2,  /* hot pages before the tasks run, then everything */
};

#define LP_WS_VERSION 1
#define LP_WS_ANON 1
#define LP_WS_SHMEM 2

struct lp_ws_rec {
	uint32_t kind;
	uint32_t pad;
	uint64_t id;
	uint64_t addr;
};

struct lp_shm {
	uint64_t id;
	uint64_t size;
	int fd;                  /* the object, or -1: then filled through a task's mapping */
	struct lp_pages *pages;
	struct lp_pmap map;
	uint64_t *touched;       /* 1 bit per page: faulted at least once (--record-ws) */
	uint64_t nr_total;       /* pages in the image */
};

/* Latency samples (ns) of one kind of fault. */
struct lp_lat {
	uint32_t *v;
	size_t nr, cap;
};

struct lp_stats {
	uint64_t faults_missing, faults_minor;
	uint64_t pages_copied, pages_zeroed, pages_continued, pages_prefetched;
	uint64_t pages_total, bytes_copied;
	uint64_t eexist, eagain, faults_waited, forks, remaps, removes, unmaps, exits;
	uint64_t tasks_killed;     /* killed because their memory could not be served */
	uint64_t enoent_retries;   /* multi-page requests retried in halves after ENOENT */
	uint64_t pages_dropped;    /* single pages with no mapping any more (ENOENT) */
	uint64_t faults_unpending; /* faults on image data pages no longer pending */
	uint64_t busy_polls;       /* waits made busy polling (in the window after a fault) */
	uint64_t busy_poll_hits;   /* ... that found work before the window closed */
	uint64_t t_start_ns, t_finished_ns, t_all_ns;
	bool ended_by_exit;       /* the loop ended because every task exited */
	struct lp_lat lat_missing, lat_minor;
};

struct lp_watchdog;
struct lp_task;

/* The writer thread: one pwrite job at a time. */
struct lp_writer {
	pthread_t thr;
	bool started, stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct lp_fd done;       /* eventfd: a job ended */
	/* the job */
	bool busy, ready;
	int fd;
	uint64_t off, len;
	void *buf;
	int err;
	unsigned shm_idx;
};

struct lp_loop {
	int epfd;
	int dfd;                 /* image directory, -1 if none */
	enum lp_prefetch prefetch;
	bool finished;           /* the restore said "restore finished" */
	bool failed;
	struct lp_task *tasks;
	struct lp_task *new_tasks; /* forked: join epoll after the current batch */
	unsigned next_task_id;
	struct lp_shm **shms;
	unsigned nr_shms;
	uint64_t chunk;
	void *buf;               /* LP_CHUNK_MAX bytes for the loop thread */
	void *wr_buf;            /* LP_CHUNK_MAX bytes for the writer's job */
	bool idle;               /* the last prefetch step found nothing to do */
	bool retry;              /* a deferred fault waits for the mm to settle (EAGAIN) */
	bool recording;          /* --record-ws */
	uint64_t busy_poll_ns;   /* 0: sleep as soon as nothing is ready */
	uint64_t last_fault_ns;  /* when the last fault was read */
	struct lp_writer wr;
	/* hot working set: shmem part before the tasks run, private part first after */
	struct lp_ws_rec *hot;
	size_t nr_hot, hot_pos_shm, hot_pos_anon;
	/* --record-ws */
	struct lp_ws_rec *rec;
	size_t nr_rec, cap_rec;
	struct lp_stats st;
	struct lp_watchdog *wd;  /* gets every uffd and pidfd, may be NULL */
	/* called after each dispatch round (handshake SYNC replies), may be NULL */
	int (*on_idle)(struct lp_loop *l, void *arg);
	void *on_idle_arg;
};

/* A shmem object: fd (owned, may be -1), pages (reference taken). Returns its index
 * (for lp_task_add_shm) or -1. An id already known returns that object (and takes
 * the fd if it had none). */
int lp_loop_add_shm(struct lp_loop *l, uint64_t id, uint64_t size, int fd,
		    struct lp_pages *pages);
int lp_loop_find_shm(struct lp_loop *l, uint64_t id);
/* Hot working set (LP_PREFETCH_HOT). 0 or -1. */
int lp_loop_set_hot(struct lp_loop *l, const struct lp_ws_rec *recs, size_t nr);
/* "restore finished": background prefetch of private pages may start. */
void lp_loop_finish(struct lp_loop *l);
/* A fault was read at t_ns: the prefetch chunk falls back; busy polling goes on. */
void lp_loop_fault_seen(struct lp_loop *l, uint64_t t_ns);
void lp_loop_record(struct lp_loop *l, uint32_t kind, uint64_t id, uint64_t addr);
void lp_lat_add(struct lp_lat *lat, uint64_t ns);

#endif
