/*
 * userfaultfd for the lazy-pages daemon.
 *
 * The uffd_* ioctl wrappers are non-logging and return 0 or -errno; the copy-like
 * ones report how many bytes were done in *ret_done even when they fail (a partial
 * copy fails with -EAGAIN).
 *
 * struct lp_task is one userfaultfd: one restored task's mm (or a child's, seen
 * through UFFD_EVENT_FORK). It holds its lazy private VMAs (vmas: runtime address
 * -> image address, tag = VMA id), the pages still to come (pending, tag = the id
 * of their VMA), its shmem mappings (shm: runtime address -> object offset, tag =
 * LP_SHM_TAG(object index, VMA id)), the faults it could not serve yet (deferred),
 * and a reference to its parent. Its fd is in the loop's epoll as a struct lp_fd.
 *
 * VMA boundaries: the kernel fills (COPY, ZEROPAGE, CONTINUE) only within one VMA
 * (ENOENT otherwise). Ranges of different VMAs carry different tags, so they never
 * merge, and every request is clamped to one range. VMAs can still split or merge
 * later without an event (mprotect, madvise): a multi-page request that gets ENOENT
 * is retried in halves, and only a single page that gets ENOENT is dropped.
 * Every fault is answered from the image: zeros only where the image says zero (or
 * has no page, or the task dropped the page itself), never because a page was lost.
 */
#ifndef CRIU_LITE_LP_UFFD_H
#define CRIU_LITE_LP_UFFD_H

#include <linux/userfaultfd.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/uffd.h"
#include "lazy-pages/ranges.h"
#include "lazy-pages/state.h"



/* Tags of shmem mappings: the object (index + 1) and the VMA. */
#define LP_SHM_TAG(idx, vma) (((uint64_t)(vma) << 32) | ((uint64_t)(idx) + 1))
static inline unsigned lp_shm_tag_idx(uint64_t tag)
{
	return (unsigned)(uint32_t)tag - 1;
}

struct lp_fault {
	uint64_t addr;  /* page aligned */
	uint32_t flags; /* UFFD_PAGEFAULT_FLAG_* */
	uint64_t t0;    /* when it was read (ns) */
};

/* What a prefetch job (struct lp_job, worker.h) is for: its kind. */
#define LP_JK_ANON     1 /* private pages of the owner task: COPY / ZERO */
#define LP_JK_SHM_FILL 2 /* shmem pages through one of the owner's mappings: COPY / ZERO */
#define LP_JK_SHM_MAP  3 /* shmem pages in the page cache into a mapping: CONTINUE */
#define LP_JK_PWRITE   4 /* shmem pages written into the object (before the tasks run) */

struct lp_task {
	struct lp_fd ufd;        /* the userfaultfd */
	struct lp_fd pfd;        /* pidfd (-1: pid unknown, a child seen through FORK) */
	struct lp_loop *loop;
	pid_t pid;
	struct lp_task *parent;
	struct lp_pages *pages;  /* private pages, shared with forked children */
	struct lp_rset vmas;     /* lazy private VMAs (as the image has them, then moved) */
	struct lp_rset pending;  /* private pages not in yet */
	struct lp_rset shm;      /* shmem mappings */
	uint32_t last_vma;       /* the last VMA id given */
	struct lp_rset hot;	 /* private pages put in before the task ran (runtime address) */
	uint64_t fa_next;	 /* fault-around: where the last window ended */
	uint32_t fa_win;	 /* ... and the window now (pages) */
	unsigned jobs;		 /* prefetch jobs of this task not harvested yet */
	uint64_t pf_next;	 /* background prefetch: the next address to look at */
	struct lp_fault *deferred;
	size_t nr_deferred, cap_deferred;
	bool retry_soon;         /* a deferred fault got EAGAIN */
	bool exited;
	bool in_epoll;
	unsigned id;             /* for logs */
	struct lp_task *next;
};

/* A task for a uffd (ownership of uffd and pidfd passes to the task, even on error;
 * pidfd may be -1). pages: a reference is taken. NULL (logged) on error. The task is
 * not in the loop yet: see lp_loop_add_task(). */
struct lp_task *lp_task_new(struct lp_loop *l, pid_t pid, int uffd, int pidfd,
			    struct lp_pages *pages);
/* Free a task: it must have no pending pages, or have exited (or the loop is failing
 * and has killed it). NULL is fine. */
void lp_task_free(struct lp_task *t);
/* A lazy private VMA [start, end): its pages in the page set become pending. 0 or -1.
 * Each call is one VMA: its ranges never merge with another's. */
int lp_task_add_anon(struct lp_task *t, uint64_t start, uint64_t end);
/* A lazy shmem VMA [start, end) of object shm_idx (lp_loop_add_shm) at byte offset pgoff. */
int lp_task_add_shm(struct lp_task *t, uint64_t start, uint64_t end, unsigned shm_idx,
		    uint64_t pgoff);

/* A task seen through FORK: it joins the loop after the current batch. */
void lp_task_queue(struct lp_loop *l, struct lp_task *t);
/* Read and dispatch everything the uffd has. <0 fatal, 0 ok. */
int lp_task_on_read(struct lp_fd *f);
/* Serve one fault: <0 fatal, 0 served or dropped, 1 deferred (kept in the task). */
int lp_task_fault(struct lp_task *t, struct lp_fault *f);
/* Retry the deferred faults. <0 fatal. */
int lp_task_retry_deferred(struct lp_task *t);
/* Read what the uffd still has, keeping only FORK events (the task is gone). */
int lp_task_drain(struct lp_task *t);
/* The task's mm is gone: drop everything, leave epoll, close its fds. */
void lp_task_exited(struct lp_task *t, const char *why);
/* Is the task's mm still there? An mm goes without an event on its uffd when the task
 * exits or execs; a child seen through FORK has no pidfd to tell its exit. The probe is
 * a UFFDIO_WRITEPROTECT (clear) of a page outside every range registered with the uffd:
 * ENOENT (or EAGAIN) while the mm lives, ESRCH once it is gone (then the task is marked
 * exited), never a change to the task's memory. 0 alive (or the task exited before), 1 gone. */
int lp_task_probe(struct lp_task *t);
/* SIGKILL it (through the pidfd) if we know it. 0 or -1. */
int lp_task_kill(struct lp_task *t);

/* Copy [addr, addr + len) of the task's pending pages from the page set: COPY or
 * ZEROPAGE of the first pending run there (one extent, one VMA); a multi-page request
 * that gets ENOENT is retried in halves. Returns pages settled (>= 0), or <0 fatal;
 * stops early (returning what was done) where a page is there already, or on EAGAIN
 * (setting t->retry_soon if nothing was done). */
int64_t lp_task_fill(struct lp_task *t, uint64_t addr, uint64_t len, void *buf, bool fault);

bool lp_task_complete(const struct lp_task *t);
/* The id of the task's page set (its pid in the images). */
uint64_t lp_task_img_id(const struct lp_task *t);

/* Point segment g at nr pages of page set p at image address img: the source's memory
 * and crcs (the worker checks them), else a copy read here. Returns pages (> 0, at most
 * nr, within one extent entry) or -errno (logged). */
int64_t lp_seg_data(struct lp_seg *g, struct lp_pages *p, uint64_t img, uint64_t nr);
/* Apply every finished prefetch job, in order. <0 fatal. */
int lp_task_harvest(struct lp_loop *l);
/* No job of t queued or running, and those finished applied. <0 fatal. */
int lp_task_quiesce(struct lp_task *t);

#endif
