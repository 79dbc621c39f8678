/*
 * The prefetch worker: threads (one per CPU) that run the page requests (jobs) the
 * loop plans, so that the loop thread only ever serves faults and events.
 *
 * A job is self-contained: the fd it acts on (a task's uffd, or a shmem object for a
 * pwrite), and up to LP_JOB_SEGS ranges (segments), each with its destination, data
 * and crc32c. The worker never reads the loop's state; the loop reads a job's result
 * once it is done (harvest). Segments are done in order:
 *   LP_JOB_COPY, LP_JOB_ZERO, LP_JOB_CONT  UFFDIO_COPY / ZEROPAGE / CONTINUE of
 *       [addr, addr + len): a page that is already there (EEXIST) is skipped, and the
 *       request goes on after it; the job stops at any other error (ret), and stop and
 *       settled say how far it got (every page before is in: put there by the job or
 *       already)
 *   LP_JOB_PWRITE  pwrite into a shmem object at byte offset addr (before the tasks
 *       run only: nothing can fault meanwhile)
 * Many small ranges in one job (the preload's scattered runs) cost one handoff.
 *
 * Priority: in the background the worker runs at SCHED_IDLE, so it gets a CPU only
 * when nothing else wants one, the restored tasks and the loop thread included; before
 * the tasks run (the preload) it runs at normal priority. A fault never waits for a
 * job: it is served by the loop thread directly (a page both put in gets EEXIST on one
 * side, never overwritten). While faults come in a burst the loop holds the worker
 * (lp_worker_hold): it starts no job, so that the loop thread, which yields its CPU
 * between looks for the next fault, yields it to the task and never to the worker.
 *
 * The loop thread is the only one that plans, cancels and harvests; the worker only
 * claims queued jobs (QUEUED -> RUNNING) and completes them (-> DONE). Before the loop
 * acts on an event that changes a task's address space (remap, remove, unmap), or frees
 * a task, it quiesces that task's jobs (lp_worker_quiesce): queued ones are cancelled, a
 * running one is waited for (the worker is raised to normal priority meanwhile), so
 * that no job acts on addresses that no longer mean what they meant when planned.
 */
#ifndef CRIU_LITE_LP_WORKER_H
#define CRIU_LITE_LP_WORKER_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define LP_JOBS 64 /* jobs in the ring */

enum lp_job_op {
	LP_JOB_COPY = 1,
	LP_JOB_ZERO = 2,
	LP_JOB_CONT = 3,
	LP_JOB_PWRITE = 4,
};

enum lp_job_state {
	LP_JOB_FREE = 0,
	LP_JOB_QUEUED,
	LP_JOB_RUNNING,
	LP_JOB_DONE,
	LP_JOB_CANCELLED,
	LP_JOB_HARVESTED, /* handled out of order: freed when the ring's tail passes it */
};

/* One range of a job: one request (and its retries past pages already there). */
struct lp_seg {
	uint8_t op;	      /* enum lp_job_op */
	uint64_t addr, len;   /* destination (runtime address, or object offset); bytes */
	const void *src;      /* COPY, PWRITE: the data (NULL for PWRITE: zeros) */
	const uint32_t *crcs; /* their crc32c, checked before use; NULL: checked already */
	void *buf;	      /* data owned by the segment (malloc'd), freed with the job */
	uint64_t img;	      /* the loop's: image address / object offset of addr */
};

#define LP_JOB_SEGS 32 /* ranges in one job at most */

struct lp_job {
	int state;     /* enum lp_job_state; atomic */
	uint8_t kind;  /* the loop's: what the job is for */
	bool preload;  /* part of the preload before the tasks run */
	int fd;	       /* the uffd, or the shmem object (PWRITE) */
	void *owner;   /* the loop's: whose job it is (quiesce) */
	uint64_t arg;  /* the loop's */
	unsigned nseg; /* the ranges, done in order */
	struct lp_seg seg[LP_JOB_SEGS];
	uint64_t bytes; /* in all of them */
	/* result: every segment before stop is in; segment stop is in up to settled */
	unsigned stop;	  /* nseg when all went in */
	int ret;	  /* 0, or the -errno where it stopped */
	uint64_t settled; /* bytes of segment stop that are in (put in, or there already) */
	uint64_t done;	  /* bytes this job put in, in all its segments */
	uint64_t bad;	  /* -EBADMSG: the offset of the corrupt page in segment stop */
};

#define LP_WORKERS 4 /* threads at most: one per CPU of the daemon */

struct lp_worker {
	pthread_t thr[LP_WORKERS];
	unsigned nthr; /* threads running */
	bool started;
	int stop;	     /* atomic */
	pid_t tid[LP_WORKERS]; /* atomic: the threads' ids */
	bool background;     /* runs at SCHED_IDLE */
	uint32_t seq;	     /* futex: bumped when jobs are queued */
	int nqueued;	     /* atomic: jobs QUEUED */
	int notify_below;    /* atomic: write efd when nqueued drops to this (-1: never) */
	int efd;	     /* eventfd: jobs completed */
	unsigned head, tail; /* loop thread: next slot to fill, oldest slot in use */
	uint64_t cpu_ns;     /* the threads' CPU time when they stopped */
	uint64_t hold_until; /* atomic: no job starts before this (CLOCK_MONOTONIC ns) */
	cpu_set_t cpus;	     /* where it may run (not where the loop thread follows a task) */
	struct lp_job jobs[LP_JOBS];
};

/* 0 or -1 (logged). The threads (one per CPU in cpus, at most LP_WORKERS) start
 * with the first job, on cpus. */
int lp_worker_init(struct lp_worker *w, const cpu_set_t *cpus);
/* Cancel what is queued, wait for what runs, stop the thread, free every job. */
void lp_worker_fini(struct lp_worker *w);

/* A free job at the ring's head (zeroed, state FREE), or NULL when the ring is full.
 * Fill it (lp_job_seg), then lp_worker_submit() it (or lp_worker_unget() it). */
struct lp_job *lp_worker_get(struct lp_worker *w);
/* The next segment of j, zeroed (NULL when it has LP_JOB_SEGS). */
struct lp_seg *lp_job_seg(struct lp_job *j);
void lp_worker_unget(struct lp_worker *w, struct lp_job *j);
/* Queue j. 0 or -1 (logged: the thread could not start). */
int lp_worker_submit(struct lp_worker *w, struct lp_job *j);
/* Run one queued job in the calling thread (the loop helps during the preload).
 * true if it ran one. */
bool lp_worker_run_one(struct lp_worker *w);

/* Jobs in the ring (queued, running, or done and not harvested). */
unsigned lp_worker_busy(const struct lp_worker *w);
/* Jobs queued and not started. */
unsigned lp_worker_queued(const struct lp_worker *w);
/* Jobs that are neither done nor cancelled (queued or running). */
unsigned lp_worker_pending(const struct lp_worker *w);

/* The next finished job (DONE or CANCELLED) in ring order, or NULL; the caller reads
 * it, then lp_worker_release()s it. Jobs finished out of order wait for their turn. */
struct lp_job *lp_worker_next_done(struct lp_worker *w);
/* Every finished job of owner, anywhere in the ring: call fn on each, then release it. */
void lp_worker_harvest_owner(struct lp_worker *w, void *owner, void (*fn)(struct lp_job *j, void *arg),
			     void *arg);
void lp_worker_release(struct lp_worker *w, struct lp_job *j);

/* No job of owner is queued or running when this returns: queued ones are cancelled,
 * a running one is waited for. */
void lp_worker_quiesce(struct lp_worker *w, void *owner);
/* Background (SCHED_IDLE) or preload (normal priority). 0 or -1 (logged). */
int lp_worker_set_background(struct lp_worker *w, bool background);
/* No job starts before until_ns (a fault burst: the loop thread wants the CPU, and a
 * sched_yield() of its would hand it to the worker). Only ever extends the hold. */
void lp_worker_hold(struct lp_worker *w, uint64_t until_ns);
/* Write the eventfd when the queued jobs drop to n (-1: only when a job of the
 * preload ends, and when the ring runs dry). */
void lp_worker_notify_below(struct lp_worker *w, int n);
/* CPU time of the worker threads so far (ns), 0 if they never ran. */
uint64_t lp_worker_cpu_ns(const struct lp_worker *w);

/* Run a job (the worker's body; the tests call it too). Sets stop, ret, settled, done. */
void lp_job_run(struct lp_job *j);

#endif
