/*
 * The lazy-pages event loop: struct lp_loop owns the epoll, the tasks (one per uffd),
 * the shmem objects and the statistics; there are no file-scope globals.
 *
 * Scheduling: faults first. When no fd is ready the loop does one prefetch step; the
 * step's size grows from LP_CHUNK_MIN to LP_CHUNK_MAX and falls back on every fault.
 * shmem objects with an fd are pre-populated by a writer thread (pwrite into the
 * object): their pages are "being written" meanwhile, and a fault on such a page
 * waits for the write to end, then continues it. The loop ends when every page has
 * arrived, or every task has exited.
 *
 * Busy polling: after a fault the loop looks for the next one without sleeping for
 * busy_poll_ns (yielding its CPU between looks). A fault whose handler sleeps costs
 * two wakeups, the handler's and the task's; when they are on different CPUs each is
 * an IPI, and in a VM whose idle vCPUs halt each is also a VM exit and entry. Faults
 * come in bursts (a task walking its memory), so while a burst lasts only the task's
 * wakeup is left. The window ends busy_poll_ns after the last fault: the CPU it burns
 * is bounded per burst, and sched_yield() gives it to anything runnable meanwhile.
 *
 * Working-set files (--record-ws, --hot-ws) are binary, little endian:
 *   header: u32 WS_MAGIC, u32 version (1), u32 record size (24), u32 0
 *   records, in first-touch order: u32 kind (1 private page, 2 shmem page), u32 0,
 *                                   u64 id (pid of the page set / shmem id),
 *                                   u64 image address (shmem: byte offset)
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
/* The epoll timeout lp_loop_run would use now: 0 while prefetch has work, 1 while a
 * fault waits for the mm to settle, else -1. */
int lp_loop_timeout(const struct lp_loop *l);
/* The hot shmem pages are all in (for the handshake's SYNC). */
bool lp_loop_hot_ready(const struct lp_loop *l);
void lp_loop_kill_all(struct lp_loop *l);

#endif
