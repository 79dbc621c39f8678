/*
 * The lazy-pages event loop: struct lp_loop owns the epoll, the tasks (one per uffd),
 * the shmem objects and the statistics; there are no file-scope globals.
 *
 * Faults first: this thread serves faults and events, and nothing else while they
 * come. A fault resolves a window from its page on (fault-around: LP_FA_MIN pages
 * after a jump, doubled while faults follow on from the last window, up to LP_FA_MAX);
 * a MINOR fault maps the whole run of pages in the page cache from its page on.
 *
 * Prefetch is done by the worker thread (worker.h): this thread plans its jobs when no
 * fault waits, and harvests their results. Three phases:
 *   - before the SYNC (--prefetch hot): the working set's shmem pages are written into
 *     the objects the restore gave us an fd of (pwrite; a fault on a page being written
 *     waits for it, but no task runs yet);
 *   - the SYNC (every task restored, none running): the working set goes into every
 *     task's page tables, private pages with UFFDIO_COPY, shmem pages with UFFDIO_COPY
 *     through one mapping (filling the page cache) or, written before, UFFDIO_CONTINUE,
 *     and UFFDIO_CONTINUE in every other mapping; this thread copies too. Then the ACK;
 *   - after "restore finished" (--prefetch all, hot): everything else, in address order,
 *     in jobs of LP_JOB_BG, the worker at SCHED_IDLE; shmem pages through one mapping
 *     and then CONTINUE in the others, so that prefetched pages never fault.
 * The loop ends when every page has arrived, or every task has exited.
 *
 * Busy polling: after a fault the loop looks for the next one without sleeping for
 * busy_poll_ns (yielding its CPU between looks). A fault whose handler sleeps costs
 * two wakeups, the handler's and the task's; when they are on different CPUs each is
 * an IPI, and in a VM whose idle vCPUs halt each is also a VM exit and entry. Faults
 * come in bursts (a task walking its memory), so while a burst lasts only the task's
 * wakeup is left. The window ends busy_poll_ns after the last fault: the CPU it burns
 * is bounded per burst, and sched_yield() gives it to anything runnable meanwhile.
 *
 * --record-ws records every page's first touch (a write or a read) as the tasks fault
 * them in: faults are served one page each and nothing is prefetched in the background
 * then, so that every touch is seen; pages of the working set put in before the tasks
 * ran are kept in the record (their touches can't be seen). Working-set files: ws.h.
 */
#ifndef CRIU_LITE_LP_LOOP_H
#define CRIU_LITE_LP_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "lazy-pages/state.h"
#include "lazy-pages/task.h"

/* 0 or -1 (logged). dfd is borrowed. */
int lp_loop_init(struct lp_loop *l, int dfd, enum lp_prefetch mode);
/* Close every fd. A task with pages still pending is killed first: its uffd is never
 * closed while it could still fault. */
void lp_loop_fini(struct lp_loop *l);
int lp_loop_add_fd(struct lp_loop *l, struct lp_fd *f);
void lp_loop_del_fd(struct lp_loop *l, struct lp_fd *f);
/* Add a task made by lp_task_new (now in epoll, and given to the watchdog). 0 or -1. */
int lp_loop_add_task(struct lp_loop *l, struct lp_task *t);
/* Run until every page is in or every task exited: 0; -1 on a fatal error (the
 * caller kills the tasks: lp_loop_kill_all). */
int lp_loop_run(struct lp_loop *l);
/* One round: wait at most timeout_ms (-1 forever) for events, dispatch, maybe prefetch.
 * <0 fatal, 0 ok. */
int lp_loop_step(struct lp_loop *l, int timeout_ms);
bool lp_loop_done(const struct lp_loop *l);
/* The epoll timeout lp_loop_run would use now: 0 while the preload runs or prefetch
 * can be planned, 1 while a fault waits for the mm to settle, else -1. */
int lp_loop_timeout(const struct lp_loop *l);
/* The working set's shmem pages are written into the objects (before the SYNC). */
bool lp_loop_hot_ready(const struct lp_loop *l);
/* The restore waits (SYNC): put the working set in. lp_loop_preloaded() says when it
 * is (at once without a working set). */
void lp_loop_sync(struct lp_loop *l);
bool lp_loop_preloaded(const struct lp_loop *l);
void lp_loop_kill_all(struct lp_loop *l);

#endif
