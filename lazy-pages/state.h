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
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "lazy-pages/ranges.h"
#include "lazy-pages/source.h"
#include "lazy-pages/worker.h"

/* An fd in the loop's epoll. Handlers return <0 error, 0 continue, >0 re-plan. */
struct lp_fd {
	int fd;
	int (*on_read)(struct lp_fd *f);
	int (*on_hup)(struct lp_fd *f);
};

#define LP_CHUNK_MAX		(4u << 20) /* the loop's buffer; the largest request */
#define LP_BUSY_POLL_US_DEFAULT 100
#define LP_JOB_BG		(1u << 20)   /* a background prefetch job */
#define LP_JOB_PRELOAD		(1u << 20)   /* a preload job (nothing runs meanwhile) */
#define LP_JOB_MAP		(4u << 20)   /* a CONTINUE job (maps, copies nothing) */
#define LP_BG_QUEUE		16	     /* background jobs queued at most */
#define LP_BG_HOLD_NS		500000ull    /* no prefetch job starts this soon after a fault */
#define LP_FOLLOW_NS		2000000ull   /* looks at the faulting thread's CPU at most this often */
#define LP_FA_MIN		16	     /* fault-around window, pages: after a jump */
#define LP_FA_MAX		256	     /* ... doubled while faults follow on, up to 1 MiB */
#define LP_MINOR_RUN		512	     /* a MINOR fault continues up to this many pages */
#define LP_PROBE_MIN_MS		10	     /* is a task's mm still there: first look after a quiet spell */
#define LP_PROBE_MAX_MS		1000	     /* ... the looks spaced out up to this while nothing happens */

enum lp_prefetch {
	LP_PREFETCH_NONE = 0, /* faults only */
	LP_PREFETCH_ALL = 1,  /* stream everything after "restore finished" */
	LP_PREFETCH_HOT = 2,  /* the working set before the tasks run, then everything */
};

/* Working sets (lazy-pages/ws.h has the file format): runs of pages of one page set. */
#define LP_WS_ANON    1	 /* a task's private pages: id = its pid, addr = image address */
#define LP_WS_SHMEM   2	 /* a shmem object's pages: id = the object, addr = byte offset */
#define LP_WS_WRITTEN 1u /* flags: first touched by a write (else only read at first) */

struct lp_ws_run {
	uint32_t kind;
	uint32_t flags;
	uint64_t id;
	uint64_t addr; /* page aligned */
	uint64_t nr;   /* pages */
};

struct lp_shm {
	uint64_t id;
	uint64_t size;
	int fd;                  /* the object, or -1: then filled through a task's mapping */
	struct lp_pages *pages;
	struct lp_pmap map;
	uint64_t *touched;       /* 1 bit per page: faulted at least once (--record-ws) */
	uint64_t *hot;		 /* 1 bit per page: in place before the tasks ran */
	uint64_t nr_total;       /* pages in the image */
	uint64_t pf_next;	 /* background prefetch: the next page to look at */
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
	uint64_t probes;	   /* looks at whether a task's mm is still there */
	uint64_t exits_probed;	   /* ... that found it gone (an exit or exec the uffd did not tell) */
	uint64_t tasks_killed;     /* killed because their memory could not be served */
	uint64_t enoent_retries;   /* multi-page requests retried in halves after ENOENT */
	uint64_t pages_dropped;    /* single pages with no mapping any more (ENOENT) */
	uint64_t faults_unpending; /* faults on image data pages no longer pending */
	uint64_t busy_polls;       /* waits made busy polling (in the window after a fault) */
	uint64_t busy_poll_hits;   /* ... that found work before the window closed */
	uint64_t wait_ns_missing;  /* the faults' waits as the daemon sees them: read to served */
	uint64_t wait_ns_minor;
	uint64_t pages_faultaround;  /* pages a fault brought in besides its own */
	uint64_t faults_prefetching; /* faults served while prefetch jobs were queued or running */
	uint64_t follows;	     /* moves of the loop thread to a faulting thread's CPU */
	/* the working set (--hot-ws) */
	uint64_t hot_pages;    /* pages it names (0: none, or ignored) */
	uint64_t hot_in_place; /* ... in the tasks' page tables before they ran */
	uint64_t hot_faults;   /* faults on pages that were in place */
	bool hot_ws_ignored;   /* the file did not match the images */
	uint64_t t_start_ns, t_finished_ns, t_all_ns;
	uint64_t t_sync_ns, t_preloaded_ns; /* the restore asked to sync; the preload ended */
	bool ended_by_exit;       /* the loop ended because every task exited */
	struct lp_lat lat_missing, lat_minor;
};

struct lp_watchdog;
struct lp_task;

/* What the preload (SYNC) still has to do, in order. */
enum lp_preload {
	LP_PRELOAD_IDLE = 0, /* no SYNC yet */
	LP_PRELOAD_ANON,     /* private runs of the working set */
	LP_PRELOAD_SHM,	     /* shmem runs (once no pwrite of the working set runs) */
	LP_PRELOAD_DRAIN,    /* every job planned: wait for them and their follow-ups */
	LP_PRELOAD_DONE,
};

/* One part of the preload: the runs [first, end) of the working set (one page set)
 * into one task (kind LP_WS_ANON), or into a shmem object's mappings. */
struct lp_pl_item {
	uint32_t kind;
	unsigned task; /* its id */
	unsigned shm;  /* its index */
	size_t first, end;
};

/* Shmem pages that came in through one mapping: CONTINUE them in the others. */
struct lp_followup {
	unsigned shm_idx;
	uint64_t off, len;
	unsigned skip_task; /* the task id and address of the mapping they came in */
	uint64_t skip_addr;
	bool preload;
	unsigned pos; /* mappings done */
	uint64_t sub; /* bytes done in the next one */
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
	void *buf;               /* LP_CHUNK_MAX bytes for the loop thread */
	bool idle;		 /* nothing to prefetch now, no job in flight */
	bool held;		 /* prefetch waits: faults came just now */
	bool retry;              /* a deferred fault waits for the mm to settle (EAGAIN) */
	bool recording;		 /* --record-ws: faults only, one page each */
	uint32_t fa_max;	 /* fault-around: the largest window (pages); 1: off */
	uint64_t busy_poll_ns;   /* 0: sleep as soon as nothing is ready */
	uint64_t last_fault_ns;  /* when the last fault was read */
	/* an mm can go without a word on its uffd (exit, exec; a forked child's pid is not
	 * known): tasks are probed (lp_task_probe) while the loop waits for them */
	uint64_t probe_at_ns;	 /* the next probe */
	uint32_t probe_ms;	 /* the interval now: doubles while nothing happens */
	/* faults are served from the faulting thread's CPU: this thread follows it there */
	bool follow;
	cpu_set_t cpus;	  /* the daemon's CPUs (the loop thread's when not following) */
	int follow_cpu;	  /* where this thread is pinned now, -1: not */
	pid_t follow_tid; /* the thread it followed last, and when it looked */
	uint64_t follow_ns;
	struct lp_worker wk;	 /* the prefetch thread */
	struct lp_fd wk_done;	 /* its eventfd */
	/* the working set: shmem runs are written into objects before the SYNC, every run
	 * is in the tasks' page tables before the ACK */
	struct lp_ws_run *hot;
	size_t nr_hot;
	size_t hot_pos; /* the pwrite before the SYNC: next run, and where in it */
	uint64_t hot_off;
	enum lp_preload preload;
	struct lp_pl_item *pl; /* the preload's parts */
	size_t nr_pl;
	size_t pl_item, pl_pos; /* the preload: next part, next run, and where in it */
	uint64_t pl_off;
	struct lp_followup *fu; /* CONTINUEs still to plan */
	size_t nr_fu, cap_fu;
	/* --record-ws: first touches, one page each */
	struct lp_ws_run *rec;
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
/* The working set (LP_PREFETCH_HOT): runs (copied). 0 or -1. */
int lp_loop_set_hot(struct lp_loop *l, const struct lp_ws_run *runs, size_t nr);
/* "restore finished": background prefetch may start. */
void lp_loop_finish(struct lp_loop *l);
/* A fault of thread tid (0: unknown) was read at t_ns: busy polling goes on, the
 * prefetch holds off, this thread moves to the faulting thread's CPU. */
void lp_loop_fault_seen(struct lp_loop *l, uint64_t t_ns, pid_t tid);
/* This thread is no longer pinned to a task's CPU. */
void lp_loop_unfollow(struct lp_loop *l);
/* A first touch (--record-ws): nr pages of a page set. */
void lp_loop_record(struct lp_loop *l, uint32_t kind, uint32_t flags, uint64_t id, uint64_t addr,
		    uint64_t nr);
void lp_lat_add(struct lp_lat *lat, uint64_t ns);
/* Queue CONTINUEs of [off, off + len) of object idx in every mapping but one. 0 or -1. */
int lp_loop_followup(struct lp_loop *l, unsigned idx, uint64_t off, uint64_t len, unsigned skip_task,
		     uint64_t skip_addr, bool preload);

static inline bool lp_bit(const uint64_t *bits, uint64_t i)
{
	return (bits[i / 64] >> (i % 64)) & 1;
}

static inline void lp_bit_set(uint64_t *bits, uint64_t i)
{
	bits[i / 64] |= 1ULL << (i % 64);
}

#endif
