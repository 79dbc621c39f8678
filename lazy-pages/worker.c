/* The prefetch worker (see worker.h). */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-pages: "
#include "lib/crc32c.h"
#include "lib/log.h"
#include "lib/uffd.h"
#include "lib/util.h"
#include "lazy-pages/worker.h"

#define ld(p)	 __atomic_load_n(p, __ATOMIC_ACQUIRE)
#define st(p, v) __atomic_store_n(p, v, __ATOMIC_RELEASE)

static bool cas(int *p, int from, int to)
{
	return __atomic_compare_exchange_n(p, &from, to, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

static void futex_wake(uint32_t *p, int n)
{
	syscall(SYS_futex, p, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* ---- running a job ---- */

/* One request of the segment from off on; its result in *ret_done (bytes put in). */
static int seg_ioctl(int fd, const struct lp_seg *g, uint64_t off, int64_t *ret_done)
{
	uint64_t dst = g->addr + off, len = g->len - off;

	switch (g->op) {
	case LP_JOB_COPY:
		return uffd_copy(fd, dst, (const char *)g->src + off, len, 0, ret_done);
	case LP_JOB_ZERO:
		return uffd_zeropage(fd, dst, len, 0, ret_done);
	case LP_JOB_CONT:
		return uffd_continue(fd, dst, len, 0, ret_done);
	default:
		*ret_done = 0;
		return -EINVAL;
	}
}

/* One segment: 0, or the -errno where it stopped (*ret_settled: how far). */
static int seg_run(struct lp_job *j, const struct lp_seg *g, uint64_t *ret_settled)
{
	uint64_t off = 0;
	int err = 0;

	*ret_settled = 0;
	if (g->crcs && g->src) {
		ssize_t bad = crc32c_check_pages(g->src, g->len / PAGE_SIZE, g->crcs);
		if (bad >= 0) {
			/* the loop names the page set and the page: it knows them */
			j->bad = (uint64_t)bad * PAGE_SIZE;
			return -EBADMSG;
		}
	}
	if (g->op == LP_JOB_PWRITE) {
		int r = g->src ? pwrite_all(j->fd, g->src, g->len, (off_t)g->addr)
			       : fallocate(j->fd, 0, (off_t)g->addr, (off_t)g->len);
		if (r)
			return errno ? -errno : -EIO;
		j->done += g->len;
		*ret_settled = g->len;
		return 0;
	}
	while (off < g->len) {
		int64_t d = 0;
		int ret = seg_ioctl(j->fd, g, off, &d);
		uint64_t ok = ALIGN_DOWN((uint64_t)d, PAGE_SIZE);
		off += ok;
		j->done += ok;
		if (ret == 0)
			break;
		if (ok)
			continue; /* a partial request fails with EAGAIN: ask for the rest */
		if (ret == -EEXIST) {
			off += PAGE_SIZE; /* that page is in already */
			continue;
		}
		err = ret;
		break;
	}
	*ret_settled = MIN(off, g->len);
	return err;
}

void lp_job_run(struct lp_job *j)
{
	j->ret = 0;
	j->done = 0;
	j->settled = 0;
	for (j->stop = 0; j->stop < j->nseg; j->stop++) {
		j->ret = seg_run(j, &j->seg[j->stop], &j->settled);
		if (j->ret)
			return;
	}
	j->settled = 0;
}

struct lp_seg *lp_job_seg(struct lp_job *j)
{
	if (j->nseg >= LP_JOB_SEGS)
		return NULL;
	struct lp_seg *g = &j->seg[j->nseg++];
	memset(g, 0, sizeof(*g));
	return g;
}

/* ---- the thread ---- */

static void job_free_bufs(struct lp_job *j)
{
	for (unsigned i = 0; i < j->nseg && i < LP_JOB_SEGS; i++) {
		free(j->seg[i].buf);
		j->seg[i].buf = NULL;
	}
}

static bool claim(struct lp_worker *w, struct lp_job *j)
{
	if (!cas(&j->state, LP_JOB_QUEUED, LP_JOB_RUNNING))
		return false;
	__atomic_sub_fetch(&w->nqueued, 1, __ATOMIC_ACQ_REL);
	return true;
}

static void complete(struct lp_worker *w, struct lp_job *j)
{
	st(&j->state, LP_JOB_DONE);
	int below = ld(&w->notify_below);
	if (j->preload || ld(&w->nqueued) <= below || ld(&w->nqueued) == 0) {
		uint64_t one = 1;
		if (write(w->efd, &one, sizeof(one)) < 0) {
			/* the counter can't overflow in practice; the loop also polls */
		}
	}
}

/* The next queued job from pos on, claimed; NULL if none. */
static struct lp_job *next_queued(struct lp_worker *w, unsigned *pos)
{
	for (unsigned k = 0; k < LP_JOBS; k++) {
		unsigned i = (*pos + k) % LP_JOBS;
		struct lp_job *j = &w->jobs[i];
		if (ld(&j->state) == LP_JOB_QUEUED && claim(w, j)) {
			*pos = (i + 1) % LP_JOBS;
			return j;
		}
	}
	return NULL;
}

struct worker_arg {
	struct lp_worker *w;
	unsigned n;
};

static void *worker_main(void *arg)
{
	struct worker_arg *a = arg;
	struct lp_worker *w = a->w;
	unsigned n = a->n, wpos = n * (LP_JOBS / LP_WORKERS);

	free(a);
	/* not the loop thread's CPU only, if it follows a task just now */
	sched_setaffinity(0, sizeof(w->cpus), &w->cpus);
	st(&w->tid[n], (pid_t)syscall(SYS_gettid));
	for (;;) {
		uint32_t seq = ld(&w->seq);
		if (ld(&w->stop))
			break;
		uint64_t hold = ld(&w->hold_until), now = now_ns();
		if (now < hold) {
			/* a fault burst: the loop thread wants the CPU */
			struct timespec ts = { 0, (long)MIN(hold - now, 100000000ull) };
			syscall(SYS_futex, &w->seq, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
			continue;
		}
		struct lp_job *j = next_queued(w, &wpos);
		if (!j) {
			syscall(SYS_futex, &w->seq, FUTEX_WAIT_PRIVATE, seq, NULL, NULL, 0);
			continue;
		}
		lp_job_run(j);
		complete(w, j);
	}
	return NULL;
}

int lp_worker_init(struct lp_worker *w, const cpu_set_t *cpus)
{
	memset(w, 0, sizeof(*w));
	w->cpus = *cpus;
	w->notify_below = -1;
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0) {
		pr_perror("eventfd");
		return -1;
	}
	return 0;
}

static int set_policy(pid_t tid, int policy)
{
	struct sched_param sp = { 0 };
	return sched_setscheduler(tid, policy, &sp);
}

/* The policy of every thread. 0 or -1 (errno set). */
static int set_policy_all(struct lp_worker *w, int policy)
{
	int ret = 0;

	for (unsigned i = 0; i < w->nthr; i++)
		if (set_policy(ld(&w->tid[i]), policy))
			ret = -1;
	return ret;
}

static int worker_start(struct lp_worker *w)
{
	unsigned want = (unsigned)MIN(MAX(CPU_COUNT(&w->cpus), 1), LP_WORKERS);

	if (w->started)
		return 0;
	w->started = true;
	for (unsigned i = 0; i < want; i++) {
		struct worker_arg *a = malloc(sizeof(*a));
		int ret = ENOMEM;
		if (a) {
			*a = (struct worker_arg){ w, i };
			ret = pthread_create(&w->thr[i], NULL, worker_main, a);
		}
		if (ret) {
			free(a);
			errno = ret;
			pr_perror("can't start a prefetch thread");
			if (w->nthr)
				break; /* the others will do */
			w->started = false;
			return -1;
		}
		w->nthr++;
		/* its id, for its priority */
		while (!ld(&w->tid[i]))
			sched_yield();
	}
	if (w->background && set_policy_all(w, SCHED_IDLE)) {
		pr_perror("can't set the prefetch threads' priority");
		return -1;
	}
	return 0;
}

void lp_worker_fini(struct lp_worker *w)
{
	if (w->started) {
		lp_worker_quiesce(w, NULL);
		w->cpu_ns = lp_worker_cpu_ns(w);
		st(&w->stop, 1);
		__atomic_add_fetch(&w->seq, 1, __ATOMIC_ACQ_REL);
		futex_wake(&w->seq, INT32_MAX);
		for (unsigned i = 0; i < w->nthr; i++)
			pthread_join(w->thr[i], NULL);
		w->nthr = 0;
		w->started = false;
	}
	for (unsigned i = 0; i < LP_JOBS; i++)
		job_free_bufs(&w->jobs[i]);
	closep(&w->efd);
}

struct lp_job *lp_worker_get(struct lp_worker *w)
{
	struct lp_job *j = &w->jobs[w->head];

	if (ld(&j->state) != LP_JOB_FREE)
		return NULL;
	job_free_bufs(j);
	/* the state (first) stays FREE: the worker may look at it meanwhile; the segments
	 * are zeroed as they are taken */
	memset((char *)j + sizeof(j->state), 0, offsetof(struct lp_job, seg) - sizeof(j->state));
	memset((char *)j + offsetof(struct lp_job, bytes), 0, sizeof(*j) - offsetof(struct lp_job, bytes));
	return j;
}

void lp_worker_unget(struct lp_worker *w, struct lp_job *j)
{
	(void)w;
	job_free_bufs(j);
}

int lp_worker_submit(struct lp_worker *w, struct lp_job *j)
{
	if (worker_start(w)) {
		lp_worker_unget(w, j);
		return -1;
	}
	__atomic_add_fetch(&w->nqueued, 1, __ATOMIC_ACQ_REL);
	st(&j->state, LP_JOB_QUEUED);
	w->head = (w->head + 1) % LP_JOBS;
	__atomic_add_fetch(&w->seq, 1, __ATOMIC_ACQ_REL);
	futex_wake(&w->seq, 1);
	return 0;
}

bool lp_worker_run_one(struct lp_worker *w)
{
	unsigned pos = w->tail;
	struct lp_job *j = next_queued(w, &pos);

	if (!j)
		return false;
	lp_job_run(j);
	st(&j->state, LP_JOB_DONE);
	return true;
}

unsigned lp_worker_busy(const struct lp_worker *w)
{
	unsigned n = 0;
	for (unsigned i = 0; i < LP_JOBS; i++)
		n += ld(&w->jobs[i].state) != LP_JOB_FREE;
	return n;
}

unsigned lp_worker_queued(const struct lp_worker *w)
{
	return (unsigned)ld(&w->nqueued);
}

unsigned lp_worker_pending(const struct lp_worker *w)
{
	unsigned n = 0;
	for (unsigned i = 0; i < LP_JOBS; i++) {
		int s = ld(&w->jobs[i].state);
		n += s == LP_JOB_QUEUED || s == LP_JOB_RUNNING;
	}
	return n;
}

static bool finished(int s)
{
	return s == LP_JOB_DONE || s == LP_JOB_CANCELLED;
}

/* Free the slots at the tail that were handled out of order. */
static void advance_tail(struct lp_worker *w)
{
	while (w->tail != w->head || ld(&w->jobs[w->tail].state) != LP_JOB_FREE) {
		struct lp_job *j = &w->jobs[w->tail];
		if (ld(&j->state) != LP_JOB_HARVESTED)
			break;
		job_free_bufs(j);
		st(&j->state, LP_JOB_FREE);
		w->tail = (w->tail + 1) % LP_JOBS;
	}
}

struct lp_job *lp_worker_next_done(struct lp_worker *w)
{
	advance_tail(w);
	struct lp_job *j = &w->jobs[w->tail];
	return finished(ld(&j->state)) ? j : NULL;
}

void lp_worker_release(struct lp_worker *w, struct lp_job *j)
{
	job_free_bufs(j);
	st(&j->state, LP_JOB_HARVESTED);
	advance_tail(w);
}

void lp_worker_harvest_owner(struct lp_worker *w, void *owner, void (*fn)(struct lp_job *j, void *arg),
			     void *arg)
{
	for (unsigned k = 0; k < LP_JOBS; k++) {
		struct lp_job *j = &w->jobs[(w->tail + k) % LP_JOBS];
		if (j->owner == owner && finished(ld(&j->state))) {
			fn(j, arg);
			lp_worker_release(w, j);
		}
	}
}

void lp_worker_quiesce(struct lp_worker *w, void *owner)
{
	bool boosted = false;

	for (unsigned i = 0; i < LP_JOBS; i++) {
		struct lp_job *j = &w->jobs[i];
		if (owner && j->owner != owner)
			continue;
		if (cas(&j->state, LP_JOB_QUEUED, LP_JOB_CANCELLED)) {
			__atomic_sub_fetch(&w->nqueued, 1, __ATOMIC_ACQ_REL);
			continue;
		}
		while (ld(&j->state) == LP_JOB_RUNNING) {
			/* one request of at most a chunk: let it end, at our priority */
			if (!boosted && w->background && w->started) {
				boosted = true;
				set_policy_all(w, SCHED_OTHER);
			}
			sched_yield();
		}
	}
	if (boosted && set_policy_all(w, SCHED_IDLE))
		pr_warn("can't put the prefetch threads back to SCHED_IDLE: %s, ignoring\n", strerror(errno));
}

int lp_worker_set_background(struct lp_worker *w, bool background)
{
	if (w->started && w->background != background &&
	    set_policy_all(w, background ? SCHED_IDLE : SCHED_OTHER)) {
		pr_perror("can't set the prefetch threads' priority");
		return -1;
	}
	w->background = background;
	return 0;
}

void lp_worker_hold(struct lp_worker *w, uint64_t until_ns)
{
	if (until_ns > ld(&w->hold_until))
		st(&w->hold_until, until_ns);
}

void lp_worker_notify_below(struct lp_worker *w, int n)
{
	st(&w->notify_below, n);
}

uint64_t lp_worker_cpu_ns(const struct lp_worker *w)
{
	clockid_t cid;
	struct timespec ts;

	uint64_t sum = 0;

	if (!w->started)
		return w->cpu_ns;
	for (unsigned i = 0; i < w->nthr; i++)
		if (!pthread_getcpuclockid(w->thr[i], &cid) && !clock_gettime(cid, &ts))
			sum += (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return sum;
}
