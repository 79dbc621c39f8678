/* Dump POSIX timers: each one's id, clock, notification, time left, interval, the
 * overruns of its last signal, and whether its signal is pending. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#define LOG_PREFIX "dump: "
#include "lib/log.h"
#include "lib/util.h"
#include "lib/proc-parse.h"
#include "criu-lite/dump-timers.h"

#define SIGEV_THREAD_ID_BIT 4
#define NSEC 1000000000ULL

/* The siginfo of a timer's signal: si_code SI_TIMER, the timer id at byte 16. */
#define SI_CODE_OFF 8
#define SI_TIMERID_OFF 16

static bool cpu_clock(int32_t clock)
{
	return clock < 0 || clock == CLOCK_PROCESS_CPUTIME_ID || clock == CLOCK_THREAD_CPUTIME_ID;
}

static bool has_tid(const pid_t *tids, size_t nr, pid_t tid)
{
	for (size_t i = 0; i < nr; i++)
		if (tids[i] == tid)
			return true;
	return false;
}

/* timer_gettime() and timer_getoverrun() of timer id, in the task. */
static int timer_state(struct infect_ctx *ic, uint32_t id, PosixTimerEntry *e)
{
	struct {
		int64_t isec, insec, vsec, vnsec;
	} its;
	long r;

	if (infect_syscall(ic, SYS_timer_gettime, id, ic->scratch, 0, 0, 0, 0, &r) < 0)
		return -1;
	if (r < 0) {
		errno = (int)-r;
		pr_perror("timer_gettime(%u) in pid %d", id, ic->pid);
		return -1;
	}
	if (infect_read_mem(ic->pid, ic->scratch, &its, sizeof(its)) < 0)
		return -1;
	if (infect_syscall(ic, SYS_timer_getoverrun, id, 0, 0, 0, 0, 0, &r) < 0)
		return -1;
	if (r < 0) {
		errno = (int)-r;
		pr_perror("timer_getoverrun(%u) in pid %d", id, ic->pid);
		return -1;
	}
	e->has_interval_ns = e->has_value_ns = e->has_overrun = true;
	e->interval_ns = (uint64_t)its.isec * NSEC + (uint64_t)its.insec;
	e->value_ns = (uint64_t)its.vsec * NSEC + (uint64_t)its.vnsec;
	e->overrun = (uint32_t)r;
	return 0;
}

static int timer_cmp(const void *a, const void *b)
{
	const PosixTimerEntry *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

int dump_timers_collect(struct infect_ctx *ic, pid_t pp, const pid_t *tids, size_t nr_tids,
			struct dump_timers *ret)
{
	cleanup_free struct proc_timer *pt = NULL;
	size_t nr;

	memset(ret, 0, sizeof(*ret));
	if (proc_parse_timers(pp, &pt, &nr) < 0)
		return -1;
	if (!nr)
		return 0;
	ret->e = calloc(nr, sizeof(*ret->e));
	ret->ep = calloc(nr, sizeof(*ret->ep));
	if (!ret->e || !ret->ep) {
		pr_perror("can't allocate %zu timers", nr);
		dump_timers_fini(ret);
		return -1;
	}
	for (size_t i = 0; i < nr; i++) {
		PosixTimerEntry *e = &ret->e[i];

		posix_timer_entry__init(e);
		e->id = pt[i].id;
		e->clock = pt[i].clock;
		e->notify = pt[i].notify;
		e->has_signo = e->has_sigval = true;
		e->signo = pt[i].signo;
		e->sigval = pt[i].sigval;
		if (pt[i].notify & SIGEV_THREAD_ID_BIT) {
			if (!has_tid(tids, nr_tids, pt[i].notify_pid)) {
				pr_err("pid %d: timer %u signals thread %d, which is not one of its threads\n", ic->pid,
				       e->id, pt[i].notify_pid);
				goto refuse;
			}
			e->has_notify_tid = true;
			e->notify_tid = (uint32_t)pt[i].notify_pid;
		}
		if (pt[i].clock == CLOCK_THREAD_CPUTIME_ID && nr_tids > 1) {
			pr_err("pid %d: timer %u counts the CPU time of the thread that made it, which /proc does "
			       "not tell: not supported\n", ic->pid, e->id);
			goto refuse;
		}
		if (timer_state(ic, e->id, e) < 0) {
			dump_timers_fini(ret);
			return -1;
		}
		ret->ep[i] = e;
		ret->nr++;
	}
	qsort(ret->e, ret->nr, sizeof(*ret->e), timer_cmp);
	return 0;
refuse:
	errno = ENOTSUP;
	dump_timers_fini(ret);
	return -1;
}

/* A CPU-time timer's overruns and pending signal can't be made again (restore makes
 * them by expiries at chosen times of its clock). 0 or -1 (logged). */
static int check_cpu_timer(const PosixTimerEntry *e, pid_t pid)
{
	if (!cpu_clock(e->clock) || (!e->overrun && !e->signal_pending))
		return 0;
	pr_err("pid %d: timer %u on a CPU-time clock (%d) has %s: not supported\n", pid, e->id, e->clock,
	       e->signal_pending ? "its signal pending" : "overruns to report");
	errno = ENOTSUP;
	return -1;
}

bool dump_timers_claim(struct dump_timers *t, const SiginfoEntry *si)
{
	int32_t code, id, signo;

	if (si->siginfo.len < SI_TIMERID_OFF + 4)
		return false;
	memcpy(&signo, si->siginfo.data, 4);
	memcpy(&code, si->siginfo.data + SI_CODE_OFF, 4);
	memcpy(&id, si->siginfo.data + SI_TIMERID_OFF, 4);
	if (code != SI_TIMER)
		return false;
	for (size_t j = 0; j < t->nr; j++)
		if (t->e[j].id == (uint32_t)id && t->e[j].signo == (uint32_t)signo && !t->e[j].signal_pending) {
			t->e[j].has_signal_pending = t->e[j].signal_pending = true;
			return true;
		}
	return false;
}

void dump_timers_fini(struct dump_timers *t)
{
	free(t->e);
	free(t->ep);
	memset(t, 0, sizeof(*t));
}

int dump_timers_check(const struct dump_timers *t, pid_t pid)
{
	for (size_t i = 0; i < t->nr; i++)
		if (check_cpu_timer(&t->e[i], pid) < 0)
			return -1;
	return 0;
}
