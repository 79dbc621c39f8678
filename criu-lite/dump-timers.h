/* Dump POSIX timers (timer_create): /proc/PID/timers and what only the task can say. */
#ifndef CRIU_LITE_DUMP_TIMERS_H
#define CRIU_LITE_DUMP_TIMERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "images/image.h"
#include "lib/infect.h"

struct dump_timers {
	PosixTimerEntry *e;     /* nr entries, by id */
	PosixTimerEntry **ep;   /* pointers to them, for the task image */
	size_t nr;
};

/*
 * The timers of a task: /proc/pp/timers, then timer_gettime() and timer_getoverrun()
 * of each, injected through ic; tids are the task's threads. What restore can't make
 * again (a thread CPU-time clock of a task with threads, the overruns or pending signal
 * of a CPU-time timer) is refused, naming the timer. 0 or -1 (logged).
 */
int dump_timers_collect(struct infect_ctx *ic, pid_t pp, const pid_t *tids, size_t nr_tids,
			struct dump_timers *ret);

/* Is this queued signal the pending signal of one of the timers? Then that timer is
 * marked pending (restore makes its signal pending again from the timer itself, not
 * as a copy) and the caller leaves the signal out of the queue it dumps. */
bool dump_timers_claim(struct dump_timers *t, const SiginfoEntry *si);

/* Once every queue is claimed: what restore can't make again of CPU-time timers (their
 * overruns, their pending signal) is refused, naming the timer. 0 or -1 (logged). */
int dump_timers_check(const struct dump_timers *t, pid_t pid);

void dump_timers_fini(struct dump_timers *t);

#endif
