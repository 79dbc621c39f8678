/* userfaultfd: ioctl wrappers, and struct lp_task (one uffd): faults and events. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-pages: "
#include "lib/log.h"
#include "lib/util.h"
#include "lazy-pages/task.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Per-task log messages carry the task. */
#define t_err(t, fmt, ...) pr_err("task %u (pid %d): " fmt, (t)->id, (int)(t)->pid, ##__VA_ARGS__)
#define t_warn(t, fmt, ...) pr_warn("task %u (pid %d): " fmt, (t)->id, (int)(t)->pid, ##__VA_ARGS__)
#define t_info(t, fmt, ...) pr_info("task %u (pid %d): " fmt, (t)->id, (int)(t)->pid, ##__VA_ARGS__)
#define t_debug(t, fmt, ...) pr_debug("task %u (pid %d): " fmt, (t)->id, (int)(t)->pid, ##__VA_ARGS__)

/* ---- struct lp_task ---- */

void lp_task_queue(struct lp_loop *l, struct lp_task *t)
{
	t->next = l->new_tasks;
	l->new_tasks = t;
}

static int task_pidfd_read(struct lp_fd *f);

struct lp_task *lp_task_new(struct lp_loop *l, pid_t pid, int uffd, int pidfd,
			    struct lp_pages *pages)
{
	struct lp_task *t = calloc(1, sizeof(*t));

	if (!t) {
		pr_err("out of memory\n");
		close(uffd);
		if (pidfd >= 0)
			close(pidfd);
		return NULL;
	}
	t->loop = l;
	t->pid = pid;
	t->id = l->next_task_id++;
	t->ufd = (struct lp_fd){ uffd, lp_task_on_read, lp_task_on_read };
	t->pfd = (struct lp_fd){ pidfd, task_pidfd_read, task_pidfd_read };
	t->pages = lp_pages_get(pages);
	lp_rset_init(&t->vmas);
	lp_rset_init(&t->pending);
	lp_rset_init(&t->shm);
	lp_rset_init(&t->hot);
	t->fa_win = LP_FA_MIN;
	int fl = fcntl(uffd, F_GETFL);
	if (fl < 0 || fcntl(uffd, F_SETFL, fl | O_NONBLOCK)) {
		pr_perror("can't make uffd %d non-blocking", uffd);
		lp_task_free(t);
		return NULL;
	}
	return t;
}

void lp_task_free(struct lp_task *t)
{
	if (!t)
		return;
	closep(&t->ufd.fd);
	closep(&t->pfd.fd);
	lp_rset_fini(&t->vmas);
	lp_rset_fini(&t->pending);
	lp_rset_fini(&t->shm);
	lp_rset_fini(&t->hot);
	lp_pages_put(t->pages);
	free(t->deferred);
	free(t);
}

uint64_t lp_task_img_id(const struct lp_task *t)
{
	uint64_t id = 0;
	parse_u64(t->pages->id, 10, &id);
	return id;
}

int lp_task_add_anon(struct lp_task *t, uint64_t start, uint64_t end)
{
	uint64_t before = lp_rset_pages(&t->pending);
	const struct lp_extent *e;
	uint32_t id = t->last_vma + 1;

	/* One tag per VMA: its ranges never merge with a neighbour VMA's, so no request
	 * crosses the boundary (the kernel fills within one VMA only). */
	int ret = lp_rset_add(&t->vmas, start, end, start, id);
	if (ret) {
		t_err(t, "can't add VMA %#" PRIx64 "-%#" PRIx64 ": %s\n", start, end, strerror(-ret));
		return -1;
	}
	t->last_vma = id;
	for (uint64_t a = start; a < end && (e = lp_pages_next(t->pages, a)); ) {
		uint64_t b = MAX(a, e->addr), x = MIN(end, e->addr + e->nr * PAGE_SIZE);
		if (b >= end)
			break;
		ret = lp_rset_add(&t->pending, b, x, b, id);
		if (ret) {
			t_err(t, "can't add pages %#" PRIx64 "-%#" PRIx64 ": %s\n", b, x, strerror(-ret));
			return -1;
		}
		a = x;
	}
	t->loop->st.pages_total += lp_rset_pages(&t->pending) - before;
	return 0;
}

int lp_task_add_shm(struct lp_task *t, uint64_t start, uint64_t end, unsigned shm_idx,
		    uint64_t pgoff)
{
	if (shm_idx >= t->loop->nr_shms) {
		t_err(t, "no shmem object %u\n", shm_idx);
		return -1;
	}
	int ret = lp_rset_add(&t->shm, start, end, pgoff, LP_SHM_TAG(shm_idx, t->last_vma + 1));
	if (ret) {
		t_err(t, "can't add shmem mapping %#" PRIx64 "-%#" PRIx64 ": %s\n", start, end,
		      strerror(-ret));
		return -1;
	}
	t->last_vma++;
	return 0;
}

bool lp_task_complete(const struct lp_task *t)
{
	return t->exited || (t->pending.nr == 0 && t->nr_deferred == 0);
}

int lp_task_kill(struct lp_task *t)
{
	if (t->pfd.fd >= 0 && syscall(SYS_pidfd_send_signal, t->pfd.fd, SIGKILL, NULL, 0) == 0)
		return 0;
	if (t->pid > 0 && t->pfd.fd < 0 && kill(t->pid, SIGKILL) == 0)
		return 0;
	if (t->pfd.fd >= 0 && errno == ESRCH)
		return 0; /* gone already */
	return -1;
}

void lp_task_exited(struct lp_task *t, const char *why)
{
	if (t->exited)
		return;
	t_info(t, "%s, %" PRIu64 " pages never needed\n", why, lp_rset_pages(&t->pending));
	t->exited = true;
	t->loop->st.exits++;
	lp_rset_fini(&t->vmas);
	lp_rset_fini(&t->pending);
	lp_rset_fini(&t->shm);
	lp_rset_fini(&t->hot);
	t->nr_deferred = 0;
	/* The fds are closed when the loop reaps the task, after reading what is left. */
}

/* Probe addresses: above any mmap_min_addr, below the smallest x86-64 TASK_SIZE. */
#define PROBE_LOW  (1ull << 20)
#define PROBE_HIGH ((1ull << 47) - PAGE_SIZE)

/* The lowest and highest address of the ranges of s (none: *ret_lo stays UINT64_MAX). */
static void rset_bounds(const struct lp_rset *s, uint64_t *ret_lo, uint64_t *ret_hi)
{
	if (!s->nr)
		return;
	*ret_lo = MIN(*ret_lo, lp_rset_at(s, 0)->start);
	*ret_hi = MAX(*ret_hi, lp_rset_at(s, s->nr - 1)->end);
}

/* A page no VMA registered with t's uffd covers (registered ranges are those in vmas and
 * shm: the pending and hot ones lie within vmas), or 0 if there is none to be had. */
static uint64_t probe_addr(const struct lp_task *t)
{
	uint64_t lo = UINT64_MAX, hi = 0;

	rset_bounds(&t->vmas, &lo, &hi);
	rset_bounds(&t->shm, &lo, &hi);
	if (lo == UINT64_MAX)
		return PROBE_LOW; /* nothing registered any more */
	if (lo >= PROBE_LOW + PAGE_SIZE)
		return lo - PAGE_SIZE;
	if (hi <= PROBE_HIGH - PAGE_SIZE)
		return hi;
	return 0;
}

int lp_task_probe(struct lp_task *t)
{
	uint64_t addr = probe_addr(t);

	if (t->exited || !addr)
		return 0;
	t->loop->st.probes++;
	/* clearing write protection changes nothing anywhere (lazy-pages registers no
	 * range for it): even if addr is a range just remapped there, whose event is not
	 * read yet, no page is made (a zero page would be) */
	int ret = uffd_writeprotect(t->ufd.fd, addr, PAGE_SIZE, UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
	switch (uffd_triage(ret)) {
	case UFFD_GONE:
		t->loop->st.exits_probed++;
		lp_task_exited(t, "exited or exec'd (its mm is gone)");
		return 1;
	case UFFD_NOENT:
	case UFFD_AGAIN:
		return 0;
	default:
		/* a range registered there after all (OK: nothing was write-protected, so
		 * nothing changed) or an address the kernel refuses: alive, as far as we
		 * can tell */
		t_debug(t, "probe at %#" PRIx64 ": %s\n", addr, ret ? strerror(-ret) : "a page");
		return 0;
	}
}

/* A request on a task failed for good: kill it (never let it run on without its
 * memory). 0 if it is dead now, -1 if we could not kill it. */
static int task_fail(struct lp_task *t)
{
	if (lp_task_kill(t)) {
		t_err(t, "can't kill the task after a failure\n");
		return -1;
	}
	t_err(t, "killed: its memory can't be restored\n");
	t->loop->st.tasks_killed++;
	lp_task_exited(t, "killed");
	return 0;
}

/* A fault is served: its statistics (nr pages came in), its record (--record-ws). */
static void fault_served(struct lp_task *t, struct lp_fault *f, bool minor, uint32_t kind, uint64_t id,
			 uint64_t img, bool record, uint64_t nr, bool hot)
{
	struct lp_loop *l = t->loop;
	uint64_t ns = now_ns() - f->t0;

	if (minor) {
		l->st.faults_minor++;
		l->st.wait_ns_minor += ns;
		lp_lat_add(&l->st.lat_minor, ns);
	} else {
		l->st.faults_missing++;
		l->st.wait_ns_missing += ns;
		lp_lat_add(&l->st.lat_missing, ns);
	}
	if (nr > 1)
		l->st.pages_faultaround += nr - 1;
	if (hot)
		l->st.hot_faults++;
	if (lp_worker_pending(&l->wk))
		l->st.faults_prefetching++;
	if (record)
		lp_loop_record(l, kind, f->flags & UFFD_PAGEFAULT_FLAG_WRITE ? LP_WS_WRITTEN : 0, id, img, 1);
	t_debug(t, "%s fault at %#" PRIx64 " served in %" PRIu64 " ns (%" PRIu64 " pages)\n",
		minor ? "minor" : "missing", f->addr, ns, nr);
}

/* The fault-around window for a fault at addr (pages): it doubles while faults follow
 * on from the last window, and falls back after a jump. One page while recording. */
static uint64_t fa_window(struct lp_task *t, uint64_t addr)
{
	struct lp_loop *l = t->loop;

	if (l->recording || l->fa_max <= 1)
		return 1;
	if (t->fa_next && addr == t->fa_next)
		t->fa_win = MIN(t->fa_win * 2, l->fa_max);
	else
		t->fa_win = MIN((uint32_t)LP_FA_MIN, l->fa_max);
	return t->fa_win;
}

/*
 * The result of a COPY/ZEROPAGE of [addr, addr + len) from pending pages, per the
 * triage table. Returns pages settled (>= 0) or -1 (fatal for the task).
 */
static int64_t fill_result(struct lp_task *t, uint64_t addr, uint64_t len, int ret, int64_t done,
			   bool zero, bool fault, const char *op)
{
	struct lp_stats *st = &t->loop->st;
	uint64_t ok = ALIGN_DOWN((uint64_t)done, PAGE_SIZE);

	if (ok) {
		lp_rset_remove(&t->pending, addr, addr + ok);
		if (zero)
			st->pages_zeroed += ok / PAGE_SIZE;
		else {
			st->pages_copied += ok / PAGE_SIZE;
			st->bytes_copied += ok;
		}
		if (!fault)
			st->pages_prefetched += ok / PAGE_SIZE;
	}
	switch (uffd_triage(ret)) {
	case UFFD_OK:
		return len / PAGE_SIZE;
	case UFFD_EXISTS:
		/* the page is there already: done */
		st->eexist++;
		lp_rset_remove(&t->pending, addr + ok, addr + ok + PAGE_SIZE);
		if (fault)
			uffd_wake(t->ufd.fd, addr + ok, PAGE_SIZE);
		return ok / PAGE_SIZE + 1;
	case UFFD_AGAIN:
		if (ok)
			return ok / PAGE_SIZE; /* partial: a page further on is there already */
		st->eagain++;
		t->retry_soon = true;
		return 0;
	case UFFD_NOENT:
		if (len - ok > PAGE_SIZE) {
			/* part of a multi-page request: the rest stays pending, to be retried
			 * (in halves: it may cross a VMA boundary we did not know of) */
			return ok / PAGE_SIZE;
		}
		/* this very page has no mapping (its UNMAP event may still be queued): only
		 * now may it be dropped */
		t_debug(t, "%s %#" PRIx64 ": no mapping, page dropped\n", op, addr + ok);
		st->pages_dropped++;
		lp_rset_remove(&t->pending, addr + ok, addr + ok + PAGE_SIZE);
		if (fault)
			uffd_wake(t->ufd.fd, addr + ok, PAGE_SIZE); /* as page_op_triage */
		return ok / PAGE_SIZE + 1;
	case UFFD_GONE:
		lp_task_exited(t, "exited");
		return ok / PAGE_SIZE;
	case UFFD_FAIL:
	default:
		t_err(t, "%s at %#" PRIx64 " (%" PRIu64 " bytes): %s\n", op, addr + ok, len - ok,
		      strerror(-ret));
		return task_fail(t) ? -1 : (int64_t)(ok / PAGE_SIZE);
	}
}

int64_t lp_task_fill(struct lp_task *t, uint64_t addr, uint64_t len, void *buf, bool fault)
{
	struct lp_range r;
	int64_t done = 0;
	int ret;

	if (t->exited || !lp_rset_first_in(&t->pending, addr, addr + len, &r))
		return 0;
	const struct lp_extent *e = lp_pages_find(t->pages, r.img);
	if (!e) {
		/* cannot happen: pending pages come from the extents */
		t_warn(t, "page %#" PRIx64 " is in no extent, ignoring\n", r.img);
		lp_rset_remove(&t->pending, r.start, r.start + PAGE_SIZE);
		return 1;
	}
	/* r is one run of one VMA (as far as we know): never ask for more */
	uint64_t n = MIN(r.end - r.start, e->addr + e->nr * PAGE_SIZE - r.img);
	n = MIN(n, (uint64_t)LP_CHUNK_MAX);
	const void *src = NULL;
	if (!e->zero) {
		int64_t got = lp_pages_get_data(t->pages, r.img, n / PAGE_SIZE, buf, &src);
		if (got <= 0) {
			t_err(t, "can't read pages %#" PRIx64 "+%" PRIu64 " of %s: %s\n", r.img,
			      n / PAGE_SIZE, t->pages->id, strerror(got ? (int)-got : EIO));
			return task_fail(t) ? -1 : 0;
		}
		n = MIN(n, (uint64_t)got * PAGE_SIZE);
	}
	for (;;) {
		if (e->zero)
			ret = uffd_zeropage(t->ufd.fd, r.start, n, 0, &done);
		else
			ret = uffd_copy(t->ufd.fd, r.start, src, n, 0, &done);
		/* The VMA may have split since (mprotect, madvise: no event): ENOENT for a
		 * multi-page request says nothing about its first page. Halve it. */
		if (uffd_triage(ret) != UFFD_NOENT || done >= (int64_t)PAGE_SIZE || n <= PAGE_SIZE)
			break;
		t->loop->st.enoent_retries++;
		n = ALIGN_DOWN(n / 2, PAGE_SIZE);
	}
	return fill_result(t, r.start, n, ret, done, e->zero, fault,
			   e->zero ? "UFFDIO_ZEROPAGE" : "UFFDIO_COPY");
}

/* Outcomes of page_op_triage(); -1 is fatal (the task was failed). */
#define LP_OP_IN 0    /* the page is in: ours (ret 0), or already there (EEXIST, woken) */
#define LP_OP_RETRY 1 /* EAGAIN: the mm changed; read events, then retry the fault */
#define LP_OP_GONE 2  /* nothing left to do: no mapping (ENOENT) or the task exited */

/* The result triage (STYLE.md) of a single-page UFFDIO_COPY/ZEROPAGE resolving f. */
static int page_op_triage(struct lp_task *t, struct lp_fault *f, int ret, const char *op)
{
	switch (uffd_triage(ret)) {
	case UFFD_OK:
		return LP_OP_IN;
	case UFFD_EXISTS:
		t->loop->st.eexist++;
		uffd_wake(t->ufd.fd, f->addr, PAGE_SIZE);
		return LP_OP_IN;
	case UFFD_AGAIN:
		t->loop->st.eagain++;
		t->retry_soon = true;
		return LP_OP_RETRY;
	case UFFD_NOENT:
		/* no mapping there any more (unregistered after a REMOVE, unmapped): the
		 * faulting thread retries and finds out; it must not sleep on */
		uffd_wake(t->ufd.fd, f->addr, PAGE_SIZE);
		return LP_OP_GONE;
	case UFFD_GONE:
		lp_task_exited(t, "exited");
		return LP_OP_GONE;
	case UFFD_FAIL:
	default:
		t_err(t, "%s at %#" PRIx64 ": %s\n", op, f->addr, strerror(-ret));
		return task_fail(t) ? -1 : LP_OP_GONE; /* killed: nothing left to serve */
	}
}

/* A fault on a page that is not pending, but which the image has data for: it came in
 * meanwhile (EEXIST), or it was lost on the way. Either way it gets the image's data,
 * never zeros. 0 served, 1 defer, -1 fatal. */
static int anon_fault_unpending(struct lp_task *t, struct lp_fault *f, uint64_t img)
{
	struct lp_stats *st = &t->loop->st;
	const void *src;
	int64_t done;

	int64_t got = lp_pages_get_data(t->pages, img, 1, t->loop->buf, &src);
	if (got <= 0) {
		t_err(t, "can't read page %#" PRIx64 " of %s: %s\n", img, t->pages->id,
		      strerror(got ? (int)-got : EIO));
		return task_fail(t);
	}
	int ret = uffd_copy(t->ufd.fd, f->addr, src, PAGE_SIZE, 0, &done);
	int r = page_op_triage(t, f, ret, "UFFDIO_COPY");
	if (r != LP_OP_IN)
		return r == LP_OP_GONE ? 0 : r;
	if (ret == 0) {
		t_warn(t, "page %#" PRIx64 " (image %#" PRIx64 ") was missing but not pending: "
			  "copied from the image\n", f->addr, img);
		st->faults_unpending++;
		st->pages_copied++;
		st->bytes_copied += PAGE_SIZE;
	}
	fault_served(t, f, false, LP_WS_ANON, lp_task_img_id(t), img, false, 1,
		     lp_rset_find(&t->hot, f->addr));
	return 0;
}

/* Fault-around over a hole: pages at addr of a lazy VMA that the image has nothing for
 * (a fault there gets zeros: they get them now). Pages zeroed (at most max), 0 if addr
 * is no such page, <0 fatal. */
static int64_t anon_holes(struct lp_task *t, uint64_t addr, uint64_t max)
{
	const struct lp_range *v = lp_rset_find(&t->vmas, addr);
	int64_t done = 0;

	if (!v || lp_pages_find(t->pages, v->img + (addr - v->start)))
		return 0;
	const struct lp_extent *e = lp_pages_next(t->pages, v->img + (addr - v->start));
	uint64_t n = MIN(max, (v->end - addr) / PAGE_SIZE);
	if (e)
		n = MIN(n, (e->addr - (v->img + (addr - v->start))) / PAGE_SIZE);
	struct lp_range p;
	if (lp_rset_first_in(&t->pending, addr, addr + n * PAGE_SIZE, &p))
		n = (p.start - addr) / PAGE_SIZE;
	if (!n)
		return 0;
	int ret = uffd_zeropage(t->ufd.fd, addr, n * PAGE_SIZE, 0, &done);
	uint64_t ok = ALIGN_DOWN((uint64_t)done, PAGE_SIZE) / PAGE_SIZE;
	t->loop->st.pages_zeroed += ok;
	switch (uffd_triage(ret)) {
	case UFFD_OK:
	case UFFD_AGAIN:
	case UFFD_EXISTS:
	case UFFD_NOENT:
		return ok; /* the window stops here: a later fault answers the rest */
	case UFFD_GONE:
		lp_task_exited(t, "exited");
		return 0;
	default:
		t_err(t, "UFFDIO_ZEROPAGE at %#" PRIx64 ": %s\n", addr + ok * PAGE_SIZE, strerror(-ret));
		return task_fail(t) ? -1 : 0;
	}
}

static int anon_fault(struct lp_task *t, struct lp_fault *f)
{
	const struct lp_range *r = lp_rset_find(&t->pending, f->addr);
	int64_t done;

	if (r) {
		uint64_t img = r->img + (f->addr - r->start);
		bool hot = lp_rset_find(&t->hot, f->addr);
		uint64_t win = fa_window(t, f->addr);
		int64_t n = lp_task_fill(t, f->addr, win * PAGE_SIZE, t->loop->buf, true);
		if (n < 0)
			return -1;
		if (t->exited)
			return 0;
		if (n == 0 && t->retry_soon)
			return 1;
		/* the task runs again; the rest of the window, across extents (zero pages)
		 * and holes */
		for (uint64_t a = f->addr + n * PAGE_SIZE; (uint64_t)n < win;) {
			int64_t m;
			if (lp_rset_find(&t->pending, a))
				m = lp_task_fill(t, a, (win - n) * PAGE_SIZE, t->loop->buf, true);
			else
				m = anon_holes(t, a, win - n);
			if (m < 0)
				return -1;
			if (m == 0 || t->exited)
				break;
			n += m;
			a += m * PAGE_SIZE;
		}
		t->fa_next = f->addr + n * PAGE_SIZE;
		fault_served(t, f, false, LP_WS_ANON, lp_task_img_id(t), img, true, n, hot);
		return 0;
	}
	/* Not pending: it arrived meanwhile, or the image has no data for it (a zero page,
	 * a hole, memory the task got or dropped itself since). Zeros only then. */
	const struct lp_range *v = lp_rset_find(&t->vmas, f->addr);
	if (v) {
		uint64_t img = v->img + (f->addr - v->start);
		const struct lp_extent *e = lp_pages_find(t->pages, img);
		if (e && !e->zero)
			return anon_fault_unpending(t, f, img);
	}
	int ret = uffd_zeropage(t->ufd.fd, f->addr, PAGE_SIZE, 0, &done);
	int res = page_op_triage(t, f, ret, "UFFDIO_ZEROPAGE");
	if (res != LP_OP_IN)
		return res == LP_OP_GONE ? 0 : res;
	if (ret == 0)
		t->loop->st.pages_zeroed++;
	/* a walk that goes on past a hole is still a walk */
	t->fa_next = f->addr + PAGE_SIZE;
	fault_served(t, f, false, 0, 0, 0, false, 1, lp_rset_find(&t->hot, f->addr));
	return 0;
}

/* Triage for shmem requests that did not settle the fault. 1 defer, 0 done, -1 fatal. */
static int shm_triage(struct lp_task *t, struct lp_fault *f, int ret, const char *op)
{
	switch (uffd_triage(ret)) {
	case UFFD_AGAIN:
		t->loop->st.eagain++;
		t->retry_soon = true;
		return 1;
	case UFFD_NOENT:
		uffd_wake(t->ufd.fd, f->addr, PAGE_SIZE); /* as page_op_triage */
		return 0;
	case UFFD_GONE:
		lp_task_exited(t, "exited");
		return 0;
	default: /* UFFD_FAIL; OK and EXISTS are settled by the caller */
		t_err(t, "%s at %#" PRIx64 ": %s\n", op, f->addr, strerror(-ret));
		return task_fail(t) ? -1 : LP_OP_GONE; /* killed: nothing left to serve */
	}
}

/* How many pages from page idx (at most max) are in state a or b and wanted. */
static uint64_t pmap_run2(const struct lp_pmap *m, uint64_t idx, uint64_t max, enum lp_page_state a,
			  enum lp_page_state b)
{
	uint64_t n = 0;

	while (n < max && idx + n < m->nr_pages && lp_pmap_wanted(m, idx + n)) {
		enum lp_page_state s = lp_pmap_get(m, idx + n);
		if (s != a && s != b)
			break;
		n++;
	}
	return n;
}

/* The page is in the page cache: map it, and the run of pages in the page cache after
 * it (they cost nothing to map, and each would be a MINOR fault). Returns pages mapped
 * (> 0), 0 if the fault must be answered otherwise (ret_ret: why), <0 fatal. */
static int64_t shm_continue(struct lp_task *t, const struct lp_range *r, struct lp_shm *o, struct lp_fault *f,
			    uint64_t idx, int *ret_ret)
{
	struct lp_loop *l = t->loop;
	uint64_t n = 1, max = l->recording || l->fa_max <= 1
				      ? 1
				      : MIN((uint64_t)LP_MINOR_RUN, (r->end - f->addr) / PAGE_SIZE);
	int64_t done = 0;

	while (n < max && idx + n < o->map.nr_pages && lp_pmap_get(&o->map, idx + n) == LP_PAGE_PRESENT)
		n++;
	int ret = uffd_continue(t->ufd.fd, f->addr, n * PAGE_SIZE, 0, &done);
	uint64_t ok = ALIGN_DOWN((uint64_t)done, PAGE_SIZE) / PAGE_SIZE;
	if (ret == -EAGAIN && ok)
		ret = 0; /* partial: a page further on is mapped already */
	*ret_ret = ret;
	switch (uffd_triage(ret)) {
	case UFFD_OK:
		l->st.pages_continued += ok;
		return ok;
	case UFFD_EXISTS:
		/* mapped already */
		l->st.eexist++;
		uffd_wake(t->ufd.fd, f->addr, PAGE_SIZE);
		return 1;
	default:
		return 0;
	}
}

/* One request of the window: n pages of object o at off (one extent, e) through the
 * mapping at addr. 0 or the -errno of the request; *ret_nr: pages in. */
static int shm_copy_one(struct lp_task *t, struct lp_shm *o, const struct lp_extent *e, uint64_t addr,
			uint64_t off, uint64_t n, uint64_t *ret_nr)
{
	struct lp_loop *l = t->loop;
	int64_t done = 0;
	int ret;

	*ret_nr = 0;
	if (e->zero) {
		ret = uffd_zeropage(t->ufd.fd, addr, n * PAGE_SIZE, 0, &done);
	} else {
		const void *src;
		int64_t got = lp_pages_get_data(o->pages, off, n, l->buf, &src);
		if (got <= 0) {
			t_err(t, "can't read page %#" PRIx64 " of %s: %s\n", off, o->pages->id,
			      strerror(got ? (int)-got : EIO));
			return -EBADMSG;
		}
		n = MIN(n, (uint64_t)got);
		ret = uffd_copy(t->ufd.fd, addr, src, n * PAGE_SIZE, 0, &done);
	}
	uint64_t ok = ALIGN_DOWN((uint64_t)done, PAGE_SIZE) / PAGE_SIZE;
	if (ret == -EAGAIN && ok)
		ret = 0; /* partial: a page further on came in meanwhile */
	if (!ret) {
		if (e->zero)
			l->st.pages_zeroed += ok;
		else {
			l->st.pages_copied += ok;
			l->st.bytes_copied += ok * PAGE_SIZE;
		}
		lp_pmap_set(&o->map, off / PAGE_SIZE, ok, LP_PAGE_PRESENT);
		*ret_nr = ok;
	}
	return ret;
}

/* The page is not in the page cache: copy it from the image (zeros where the image has
 * none), and the pages after it that are not there either, up to the fault-around window
 * (across extents). 0 or the -errno of the request for the fault's page (*ret_nr: pages in). */
static int shm_copy(struct lp_task *t, const struct lp_range *r, struct lp_shm *o, struct lp_fault *f,
		    uint64_t off, uint64_t *ret_nr)
{
	struct lp_loop *l = t->loop;
	uint64_t win = MIN(fa_window(t, f->addr), (r->end - f->addr) / PAGE_SIZE), n = 0;
	const struct lp_extent *e = lp_pages_find(o->pages, off);
	int64_t done = 0;
	int ret;

	*ret_nr = 0;
	if (!e) {
		/* a hole: zeros, one page */
		ret = uffd_zeropage(t->ufd.fd, f->addr, PAGE_SIZE, 0, &done);
		if (!ret) {
			l->st.pages_zeroed++;
			*ret_nr = 1;
		}
		return ret;
	}
	/* the fault's own page first: the task runs again as soon as it is in */
	for (;;) {
		uint64_t idx = off / PAGE_SIZE + n, m, got;
		uint64_t max = MIN(win - n, (e->addr + e->nr * PAGE_SIZE) / PAGE_SIZE - idx);
		/* the fault's own page, then the run of absent (or queued) wanted pages */
		m = (n ? 0 : 1) +
		    pmap_run2(&o->map, idx + (n ? 0 : 1), max - (n ? 0 : 1), LP_PAGE_ABSENT, LP_PAGE_QUEUED);
		if (!m)
			break;
		ret = shm_copy_one(t, o, e, f->addr + n * PAGE_SIZE, off + n * PAGE_SIZE, m, &got);
		if (ret && (!n || ret == -EBADMSG))
			return ret;
		n += got;
		if (ret || got < m || n >= win)
			break;
		e = lp_pages_find(o->pages, off + n * PAGE_SIZE);
		if (!e) {
			/* a hole: zeros, as a fault there would get, up to the next extent */
			uint64_t h = off + n * PAGE_SIZE, hmax = win - n;
			const struct lp_extent *nx = lp_pages_next(o->pages, h);
			if (nx)
				hmax = MIN(hmax, (nx->addr - h) / PAGE_SIZE);
			hmax = MIN(hmax, lp_pmap_run_state(&o->map, h / PAGE_SIZE, hmax, LP_PAGE_ABSENT));
			if (!hmax ||
			    uffd_zeropage(t->ufd.fd, f->addr + n * PAGE_SIZE, hmax * PAGE_SIZE, 0, &done) ||
			    (uint64_t)done != hmax * PAGE_SIZE)
				break;
			l->st.pages_zeroed += hmax;
			lp_pmap_set(&o->map, h / PAGE_SIZE, hmax, LP_PAGE_PRESENT);
			n += hmax;
			if (n >= win || !(e = lp_pages_find(o->pages, off + n * PAGE_SIZE)))
				break;
		}
	}
	t->fa_next = f->addr + n * PAGE_SIZE;
	*ret_nr = n;
	return 0;
}

static int shm_fault(struct lp_task *t, const struct lp_range *r, struct lp_fault *f)
{
	struct lp_loop *l = t->loop;
	struct lp_shm *o = l->shms[lp_shm_tag_idx(r->tag)];
	uint64_t off = r->img + (f->addr - r->start), idx = off / PAGE_SIZE;
	bool minor = f->flags & UFFD_PAGEFAULT_FLAG_MINOR;
	bool first = idx < o->map.nr_pages && !lp_bit(o->touched, idx);
	bool hot = idx < o->map.nr_pages && lp_bit(o->hot, idx);
	enum lp_page_state st = lp_pmap_get(&o->map, idx);
	uint64_t nr = 1;
	int64_t done;
	int ret;

	if (st == LP_PAGE_WRITING) {
		/* being written by the prefetcher: continue it once it is whole */
		if (!(f->flags & (1u << 31)))
			l->st.faults_waited++;
		f->flags |= 1u << 31;
		return 1;
	}
	if (minor || st == LP_PAGE_PRESENT) {
		int64_t n = shm_continue(t, r, o, f, idx, &ret);
		if (n > 0) {
			lp_pmap_set(&o->map, idx, 1, LP_PAGE_PRESENT);
			if (first)
				lp_bit_set(o->touched, idx);
			fault_served(t, f, minor, LP_WS_SHMEM, o->id, off, first, n, hot);
			return 0;
		}
		if (!(ret == -EFAULT && !minor))
			return shm_triage(t, f, ret, "UFFDIO_CONTINUE");
		/* We had it, but the page cache has not any more (a hole was punched):
		 * the task expects zeros there. */
		lp_pmap_set(&o->map, idx, 1, LP_PAGE_ABSENT);
		lp_pmap_set_want(&o->map, idx, 1, false);
		ret = uffd_zeropage(t->ufd.fd, f->addr, PAGE_SIZE, 0, &done);
	} else {
		ret = shm_copy(t, r, o, f, off, &nr);
		if (ret == -EBADMSG)
			return task_fail(t);
	}
	if (uffd_triage(ret) == UFFD_EXISTS) {
		/* the page arrived in the page cache meanwhile: map it */
		l->st.eexist++;
		nr = 1;
		ret = uffd_continue(t->ufd.fd, f->addr, PAGE_SIZE, 0, &done);
		if (uffd_triage(ret) == UFFD_EXISTS) {
			uffd_wake(t->ufd.fd, f->addr, PAGE_SIZE);
			ret = 0;
		} else if (!ret) {
			l->st.pages_continued++;
		}
	}
	if (ret)
		return shm_triage(t, f, ret, "UFFDIO_COPY");
	lp_pmap_set(&o->map, idx, 1, LP_PAGE_PRESENT);
	if (first)
		lp_bit_set(o->touched, idx);
	fault_served(t, f, false, LP_WS_SHMEM, o->id, off, first, nr, hot);
	return 0;
}

int lp_task_fault(struct lp_task *t, struct lp_fault *f)
{
	if (t->exited)
		return 0;
	const struct lp_range *r = lp_rset_find(&t->shm, f->addr);
	if (r)
		return shm_fault(t, r, f);
	return anon_fault(t, f);
}

static int task_defer(struct lp_task *t, const struct lp_fault *f)
{
	if (t->nr_deferred == t->cap_deferred) {
		size_t cap = t->cap_deferred ? 2 * t->cap_deferred : 16;
		struct lp_fault *v = realloc(t->deferred, cap * sizeof(*v));
		if (!v) {
			pr_err("out of memory\n");
			return -1;
		}
		t->deferred = v;
		t->cap_deferred = cap;
	}
	t->deferred[t->nr_deferred++] = *f;
	return 0;
}

int lp_task_retry_deferred(struct lp_task *t)
{
	size_t n = t->nr_deferred, kept = 0;

	t->retry_soon = false;
	for (size_t i = 0; i < n && !t->exited; i++) {
		struct lp_fault f = t->deferred[i];
		int ret = lp_task_fault(t, &f);
		if (ret < 0)
			return -1;
		if (ret > 0)
			t->deferred[kept++] = f;
	}
	t->nr_deferred = t->exited ? 0 : kept;
	return 0;
}

/* Unregister [start, end) except the shmem mappings in it. */
static void unregister_private(struct lp_task *t, uint64_t start, uint64_t end)
{
	struct lp_range r;
	uint64_t pos = start;

	while (pos < end) {
		uint64_t stop = end, next = end;
		if (lp_rset_first_in(&t->shm, pos, end, &r)) {
			stop = r.start;
			next = r.end;
		}
		if (stop > pos) {
			int ret = uffd_unregister(t->ufd.fd, pos, stop - pos);
			if (ret && uffd_triage(ret) != UFFD_GONE)
				t_warn(t, "can't unregister %#" PRIx64 "-%#" PRIx64 ": %s, ignoring\n", pos,
				       stop, strerror(-ret));
		}
		pos = next;
	}
}

static int task_event(struct lp_task *t, const struct uffd_msg *m)
{
	struct lp_loop *l = t->loop;
	int64_t n;

	/* No prefetch job may act on this mm with addresses planned before the event. */
	if (lp_task_quiesce(t) < 0)
		return -1;
	if (t->exited)
		return 0;
	switch (m->event) {
	case UFFD_EVENT_FORK: {
		int ufd = (int)m->arg.fork.ufd;
		struct lp_task *c = lp_task_new(l, 0, ufd, -1, t->pages);
		if (!c)
			return -1;
		c->parent = t;
		if (lp_rset_copy(&c->vmas, &t->vmas) || lp_rset_copy(&c->pending, &t->pending) ||
		    lp_rset_copy(&c->shm, &t->shm) || lp_rset_copy(&c->hot, &t->hot)) {
			pr_err("out of memory\n");
			lp_task_free(c);
			return -1;
		}
		c->last_vma = t->last_vma;
		l->st.forks++;
		l->st.pages_total += lp_rset_pages(&c->pending);
		t_info(t, "fork: task %u with uffd %d, %" PRIu64 " pages pending\n", c->id, ufd,
		       lp_rset_pages(&c->pending));
		lp_task_queue(l, c);
		return 0;
	}
	case UFFD_EVENT_REMAP: {
		uint64_t from = m->arg.remap.from, to = m->arg.remap.to, len = m->arg.remap.len;
		l->st.remaps++;
		t_debug(t, "remap %#" PRIx64 " -> %#" PRIx64 " (%" PRIu64 ")\n", from, to, len);
		t->pf_next = 0;
		t->fa_next = 0;
		if ((n = lp_rset_remap(&t->vmas, from, to, ALIGN_UP(len, PAGE_SIZE))) < 0 ||
		    (n = lp_rset_remap(&t->pending, from, to, ALIGN_UP(len, PAGE_SIZE))) < 0 ||
		    (n = lp_rset_remap(&t->shm, from, to, ALIGN_UP(len, PAGE_SIZE))) < 0 ||
		    (n = lp_rset_remap(&t->hot, from, to, ALIGN_UP(len, PAGE_SIZE))) < 0) {
			t_err(t, "remap %#" PRIx64 " -> %#" PRIx64 ": %s\n", from, to, strerror((int)-n));
			return task_fail(t);
		}
		return 0;
	}
	case UFFD_EVENT_REMOVE: {
		uint64_t start = m->arg.remove.start, end = m->arg.remove.end;
		l->st.removes++;
		/* The task dropped these pages (MADV_DONTNEED/REMOVE): it expects zeros, not
		 * the image. shmem mappings keep their page cache and stay registered. */
		n = lp_rset_remove(&t->pending, start, end);
		if (n >= 0 &&
		    (lp_rset_remove(&t->vmas, start, end) < 0 || lp_rset_remove(&t->hot, start, end) < 0))
			n = -ENOMEM;
		t_debug(t, "remove %#" PRIx64 "-%#" PRIx64 ": %" PRId64 " pages dropped\n", start, end, n);
		unregister_private(t, start, end);
		return n < 0 ? task_fail(t) : 0;
	}
	case UFFD_EVENT_UNMAP: {
		uint64_t start = m->arg.remove.start, end = m->arg.remove.end;
		l->st.unmaps++;
		n = lp_rset_remove(&t->pending, start, end);
		if (n >= 0)
			n = lp_rset_remove(&t->shm, start, end);
		if (n >= 0)
			n = lp_rset_remove(&t->vmas, start, end);
		if (n >= 0)
			n = lp_rset_remove(&t->hot, start, end);
		t_debug(t, "unmap %#" PRIx64 "-%#" PRIx64 "\n", start, end);
		return n < 0 ? task_fail(t) : 0;
	}
	default:
		t_err(t, "unexpected uffd event %u\n", m->event);
		return task_fail(t);
	}
}

/* Read everything; when drain is set (the task is gone) only FORK events matter. */
static int task_read(struct lp_task *t, bool drain)
{
	struct uffd_msg msgs[64];

	while (t->ufd.fd >= 0) {
		ssize_t n = read(t->ufd.fd, msgs, sizeof(msgs));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			t_err(t, "can't read uffd %d: %s\n", t->ufd.fd, strerror(errno));
			return drain ? 0 : task_fail(t);
		}
		if (n == 0 || n % sizeof(msgs[0])) {
			t_err(t, "short read from uffd: %zd\n", n);
			return drain ? 0 : task_fail(t);
		}
		uint64_t t0 = now_ns();
		for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
			struct uffd_msg *m = &msgs[i];
			int ret;
			if (m->event == UFFD_EVENT_PAGEFAULT) {
				if (drain || t->exited)
					continue;
				struct lp_fault f = { m->arg.pagefault.address & ~(PAGE_SIZE - 1),
						      m->arg.pagefault.flags, t0 };
				lp_loop_fault_seen(t->loop, t0, (pid_t)m->arg.pagefault.feat.ptid);
				ret = lp_task_fault(t, &f);
				if (ret > 0)
					ret = task_defer(t, &f);
			} else if (drain || t->exited) {
				if (m->event != UFFD_EVENT_FORK)
					continue;
				/* a child forked just before the end: it has the same pages */
				ret = task_event(t, m);
			} else {
				ret = task_event(t, m);
			}
			if (ret < 0)
				return -1;
		}
		if ((size_t)n < sizeof(msgs))
			return 0;
	}
	return 0;
}

int lp_task_on_read(struct lp_fd *f)
{
	struct lp_task *t = container_of(f, struct lp_task, ufd);
	return task_read(t, false);
}

/* A FORK message still queued carries a child's uffd: keep it. */
int lp_task_drain(struct lp_task *t)
{
	return task_read(t, true);
}

static int task_pidfd_read(struct lp_fd *f)
{
	struct lp_task *t = container_of(f, struct lp_task, pfd);

	if (task_read(t, true) < 0)
		return -1;
	lp_task_exited(t, "exited");
	return 0;
}

/* ---- prefetch jobs: their data, and their results ---- */

int64_t lp_seg_data(struct lp_seg *g, struct lp_pages *p, uint64_t img, uint64_t nr)
{
	const void *src = NULL;
	const uint32_t *crcs = NULL;
	int64_t n = lp_pages_locate(p, img, nr, &src, &crcs);

	if (n < 0)
		return n;
	if (n > 0) {
		g->src = src;
		g->crcs = crcs;
		return n;
	}
	/* no memory of its own to point at: a copy, checked as it is read */
	g->buf = malloc(nr * PAGE_SIZE);
	if (!g->buf) {
		pr_err("out of memory\n");
		return -ENOMEM;
	}
	int ret = lp_pages_read(p, img, nr, g->buf);
	if (ret) {
		pr_err("can't read pages %#" PRIx64 "+%" PRIu64 " of %s: %s\n", img, nr, p->id,
		       strerror(-ret));
		return ret;
	}
	g->src = g->buf;
	return (int64_t)nr;
}

static struct lp_task *task_of(struct lp_loop *l, void *owner)
{
	for (struct lp_task *t = l->tasks; t; t = t->next)
		if (t == owner)
			return t;
	return NULL;
}

/* Stats of a COPY / ZERO job: pages put in, and pages that were there already. */
static void job_stats(struct lp_stats *st, const struct lp_job *j)
{
	uint64_t settled = 0, zero = 0, done = j->done / PAGE_SIZE;

	for (unsigned i = 0; i < j->nseg && i <= j->stop; i++) {
		uint64_t n = (i < j->stop ? j->seg[i].len : j->settled) / PAGE_SIZE;
		settled += n;
		if (j->seg[i].op == LP_JOB_ZERO)
			zero += n;
	}
	zero = MIN(zero, done);
	st->pages_zeroed += zero;
	st->pages_copied += done - zero;
	st->bytes_copied += (done - zero) * PAGE_SIZE;
	st->pages_prefetched += done;
	st->eexist += settled - done;
}

/* A private job's result. <0 fatal. */
static int anon_job_done(struct lp_task *t, struct lp_job *j)
{
	struct lp_stats *st = &t->loop->st;

	job_stats(st, j);
	if (t->exited || j->state == LP_JOB_CANCELLED)
		return 0;
	for (unsigned i = 0; i < j->nseg && i <= j->stop; i++) {
		const struct lp_seg *g = &j->seg[i];
		uint64_t in = i < j->stop ? g->len : j->settled;
		if (!in)
			continue;
		lp_rset_remove(&t->pending, g->addr, g->addr + in);
		if (j->preload) {
			st->hot_in_place += in / PAGE_SIZE;
			if (lp_rset_add(&t->hot, g->addr, g->addr + in, g->img, 0) == -ENOMEM)
				pr_warn("out of memory noting the working set, ignoring\n");
		}
	}
	if (!j->ret)
		return 0;
	/* the segments after the one that stopped stay pending: prefetch comes back */
	const struct lp_seg *g = &j->seg[j->stop];
	uint64_t at = g->addr + j->settled;
	switch (uffd_triage(j->ret)) {
	case UFFD_AGAIN:
		st->eagain++;
		return 0;
	case UFFD_NOENT:
		/* a VMA boundary we did not know of: the rest of the segment in halves, here */
		st->enoent_retries++;
		return lp_task_fill(t, at, g->len - j->settled, t->loop->buf, false) < 0 ? -1 : 0;
	case UFFD_GONE:
		lp_task_exited(t, "exited");
		return 0;
	default:
		if (j->ret == -EBADMSG)
			t_err(t, "page %#" PRIx64 " of %s is corrupt\n", g->img + j->bad, t->pages->id);
		else
			t_err(t, "%s at %#" PRIx64 ": %s\n",
			      g->op == LP_JOB_ZERO ? "UFFDIO_ZEROPAGE" : "UFFDIO_COPY", at,
			      strerror(-j->ret));
		return task_fail(t) ? -1 : 0;
	}
}

/* Pages [idx, idx + nr) of o still queued (no request put them in) are absent again. */
static void unqueue(struct lp_shm *o, uint64_t idx, uint64_t nr)
{
	for (uint64_t i = idx; i < idx + nr && i < o->map.nr_pages; i++)
		if (lp_pmap_get(&o->map, i) == LP_PAGE_QUEUED)
			lp_pmap_set(&o->map, i, 1, LP_PAGE_ABSENT);
}

/*
 * Fill what is still absent of [off, off + len) of object idx through t's mapping at
 * addr, here and now, halving a request that gets ENOENT (the mapping split without an
 * event), dropping from the mapping only a single page that gets it. 0, -1 fatal.
 */
static int shm_fill_sync(struct lp_task *t, unsigned idx, uint64_t addr, uint64_t off, uint64_t len)
{
	struct lp_loop *l = t->loop;
	struct lp_shm *o = l->shms[idx];

	while (len >= PAGE_SIZE && !t->exited) {
		const struct lp_extent *e = lp_pages_find(o->pages, off);
		uint64_t n = e ? MIN(len, e->addr + e->nr * PAGE_SIZE - off) / PAGE_SIZE : 0;
		n = lp_pmap_run(&o->map, off / PAGE_SIZE, MIN(n, (uint64_t)LP_CHUNK_MAX / PAGE_SIZE),
				LP_PAGE_ABSENT);
		if (!n) {
			addr += PAGE_SIZE;
			off += PAGE_SIZE;
			len -= PAGE_SIZE;
			continue;
		}
		const void *src = NULL;
		if (!e->zero) {
			int64_t got = lp_pages_get_data(o->pages, off, n, l->buf, &src);
			if (got <= 0) {
				pr_err("can't read pages %#" PRIx64 "+%" PRIu64 " of %s: %s\n", off, n,
				       o->pages->id, strerror(got ? (int)-got : EIO));
				return -1;
			}
			n = MIN(n, (uint64_t)got);
		}
		int64_t done = 0;
		int ret;
		for (;;) {
			ret = e->zero ? uffd_zeropage(t->ufd.fd, addr, n * PAGE_SIZE, 0, &done)
				      : uffd_copy(t->ufd.fd, addr, src, n * PAGE_SIZE, 0, &done);
			if (ret != -ENOENT || done >= (int64_t)PAGE_SIZE || n == 1)
				break;
			l->st.enoent_retries++;
			n /= 2;
		}
		uint64_t ok = ALIGN_DOWN((uint64_t)done, PAGE_SIZE) / PAGE_SIZE;
		lp_pmap_set(&o->map, off / PAGE_SIZE, ok, LP_PAGE_PRESENT);
		l->st.pages_prefetched += ok;
		if (e->zero)
			l->st.pages_zeroed += ok;
		else {
			l->st.pages_copied += ok;
			l->st.bytes_copied += ok * PAGE_SIZE;
		}
		if (!ret || (ret == -EAGAIN && ok)) {
			addr += ok * PAGE_SIZE;
			off += ok * PAGE_SIZE;
			len -= ok * PAGE_SIZE;
			continue;
		}
		switch (uffd_triage(ret)) {
		case UFFD_EXISTS:
			l->st.eexist++;
			lp_pmap_set(&o->map, off / PAGE_SIZE + ok, 1, LP_PAGE_PRESENT);
			break;
		case UFFD_AGAIN:
			l->st.eagain++;
			return 0; /* the rest stays absent: prefetch comes back to it */
		case UFFD_NOENT:
			/* this very page is not mapped there any more (its UNMAP event may still be
			 * queued): forget that page of the mapping, only */
			lp_rset_remove(&t->shm, addr + ok * PAGE_SIZE, addr + (ok + 1) * PAGE_SIZE);
			break;
		case UFFD_GONE:
			lp_task_exited(t, "exited");
			return 0;
		default:
			t_err(t, "filling shmem %" PRIu64 " at %#" PRIx64 ": %s\n", o->id, off,
			      strerror(-ret));
			return -1;
		}
		addr += (ok + 1) * PAGE_SIZE;
		off += (ok + 1) * PAGE_SIZE;
		len -= (ok + 1) * PAGE_SIZE;
	}
	return 0;
}

/* A shmem job's result (owner may be NULL: gone). <0 fatal. */
static int shm_job_done(struct lp_loop *l, struct lp_task *t, struct lp_job *j)
{
	struct lp_stats *st = &l->st;
	struct lp_shm *o = l->shms[j->arg];
	bool cancelled = j->state == LP_JOB_CANCELLED;

	if (j->kind == LP_JK_SHM_MAP) {
		st->pages_continued += j->done / PAGE_SIZE;
		for (unsigned i = 0; j->preload && i < j->nseg && i <= j->stop; i++) {
			uint64_t idx = j->seg[i].img / PAGE_SIZE,
				 in = (i < j->stop ? j->seg[i].len : j->settled) / PAGE_SIZE;
			for (uint64_t k = idx; k < idx + in && k < o->map.nr_pages; k++)
				lp_bit_set(o->hot, k);
		}
		if (t && !t->exited && !cancelled && uffd_triage(j->ret) == UFFD_GONE)
			lp_task_exited(t, "exited");
		/* anything else: the page faults (MINOR) and is answered then */
		return 0;
	}
	if (j->kind == LP_JK_PWRITE) {
		for (unsigned i = 0; i < j->nseg; i++) {
			const struct lp_seg *g = &j->seg[i];
			uint64_t idx = g->img / PAGE_SIZE, nr = g->len / PAGE_SIZE;
			bool in = !cancelled && (i < j->stop || (i == j->stop && !j->ret));
			lp_pmap_set(&o->map, idx, nr, in ? LP_PAGE_PRESENT : LP_PAGE_ABSENT);
			if (!in)
				continue;
			st->pages_prefetched += nr;
			if (!g->src)
				st->pages_zeroed += nr;
			else {
				st->pages_copied += nr;
				st->bytes_copied += g->len;
			}
		}
		if (cancelled || !j->ret)
			return 0;
		pr_err("can't %s %" PRIu64 " pages at %#" PRIx64 " of shmem %" PRIu64 ": %s\n",
		       j->seg[j->stop].src ? "write" : "allocate", j->seg[j->stop].len / PAGE_SIZE,
		       j->seg[j->stop].img, o->id, strerror(-j->ret));
		return -1;
	}
	/* LP_JK_SHM_FILL: through a mapping, into the page cache (and that mapping) */
	job_stats(st, j);
	for (unsigned i = 0; i < j->nseg; i++) {
		const struct lp_seg *g = &j->seg[i];
		uint64_t idx = g->img / PAGE_SIZE, nr = g->len / PAGE_SIZE;
		uint64_t in = cancelled || i > j->stop ? 0 : i < j->stop ? nr : j->settled / PAGE_SIZE;
		lp_pmap_set(&o->map, idx, in, LP_PAGE_PRESENT);
		unqueue(o, idx + in, nr - in);
		if (!in)
			continue;
		if (j->preload) {
			st->hot_in_place += in;
			for (uint64_t k = idx; k < idx + in && k < o->map.nr_pages; k++)
				lp_bit_set(o->hot, k);
		}
		/* the other mappings get them too, so that they do not fault for them */
		if (lp_loop_followup(l, (unsigned)j->arg, g->img, in * PAGE_SIZE, t ? t->id : ~0u, g->addr,
				     j->preload))
			return -1;
	}
	if (!j->ret || cancelled)
		return 0;
	const struct lp_seg *g = &j->seg[j->stop];
	switch (uffd_triage(j->ret)) {
	case UFFD_AGAIN:
		/* the mapping changed (its event follows): another request, later */
		st->eagain++;
		return 0;
	case UFFD_NOENT:
		/* the mapping split without an event: the rest in halves, here */
		st->enoent_retries++;
		if (!t || t->exited)
			return 0;
		return shm_fill_sync(t, (unsigned)j->arg, g->addr + j->settled, g->img + j->settled,
				     g->len - j->settled);
	case UFFD_GONE:
		if (t)
			lp_task_exited(t, "exited");
		return 0;
	default:
		if (j->ret == -EBADMSG)
			pr_err("page %#" PRIx64 " of %s is corrupt\n", g->img + j->bad, o->pages->id);
		else
			pr_err("filling shmem %" PRIu64 " at %#" PRIx64 ": %s\n", o->id, g->img + j->settled,
			       strerror(-j->ret));
		return -1;
	}
}

/* t: the owner if the caller knows it (it may have left the loop's list already). */
static int job_done(struct lp_loop *l, struct lp_job *j, struct lp_task *t)
{
	if (!t && j->owner)
		t = task_of(l, j->owner);

	if (t)
		t->jobs--;
	if (j->kind == LP_JK_ANON)
		return t ? anon_job_done(t, j) : 0;
	return shm_job_done(l, t, j);
}

int lp_task_harvest(struct lp_loop *l)
{
	struct lp_job *j;
	uint64_t cnt;

	if (read(l->wk.efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN) {
		pr_perror("can't read the prefetch thread's eventfd");
		return -1;
	}
	while ((j = lp_worker_next_done(&l->wk))) {
		int ret = job_done(l, j, NULL);
		lp_worker_release(&l->wk, j);
		if (ret < 0)
			return -1;
	}
	return 0;
}

struct harvest_ctx {
	struct lp_loop *l;
	struct lp_task *t;
	int ret;
};

static void harvest_one(struct lp_job *j, void *arg)
{
	struct harvest_ctx *h = arg;
	if (job_done(h->l, j, h->t) < 0)
		h->ret = -1;
}

int lp_task_quiesce(struct lp_task *t)
{
	struct harvest_ctx h = { t->loop, t, 0 };

	if (!t->jobs)
		return 0;
	lp_worker_quiesce(&t->loop->wk, t);
	lp_worker_harvest_owner(&t->loop->wk, t, harvest_one, &h);
	return h.ret;
}
