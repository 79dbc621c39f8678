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
	lp_pages_put(t->pages);
	free(t->deferred);
	free(t);
}

static uint64_t task_img_id(const struct lp_task *t)
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
	t->nr_deferred = 0;
	/* The fds are closed when the loop reaps the task, after reading what is left. */
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

static void fault_served(struct lp_task *t, struct lp_fault *f, bool minor, uint32_t kind,
			 uint64_t id, uint64_t img, bool record)
{
	struct lp_loop *l = t->loop;
	uint64_t ns = now_ns() - f->t0;

	if (minor) {
		l->st.faults_minor++;
		lp_lat_add(&l->st.lat_minor, ns);
	} else {
		l->st.faults_missing++;
		lp_lat_add(&l->st.lat_missing, ns);
	}
	if (record)
		lp_loop_record(l, kind, id, img);
	t_debug(t, "%s fault at %#" PRIx64 " served in %" PRIu64 " ns\n", minor ? "minor" : "missing",
		f->addr, ns);
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
		st->eagain++;
		t->retry_soon = true;
		return ok / PAGE_SIZE;
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
	fault_served(t, f, false, LP_WS_ANON, task_img_id(t), img, false);
	return 0;
}

static int anon_fault(struct lp_task *t, struct lp_fault *f)
{
	const struct lp_range *r = lp_rset_find(&t->pending, f->addr);
	int64_t done;

	if (r) {
		uint64_t img = r->img + (f->addr - r->start);
		int64_t n = lp_task_fill(t, f->addr, PAGE_SIZE, t->loop->buf, true);
		if (n < 0)
			return -1;
		if (t->exited)
			return 0;
		if (n == 0 && t->retry_soon)
			return 1;
		fault_served(t, f, false, LP_WS_ANON, task_img_id(t), img, true);
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
	fault_served(t, f, false, 0, 0, 0, false);
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
		return 0;
	case UFFD_GONE:
		lp_task_exited(t, "exited");
		return 0;
	default: /* UFFD_FAIL; OK and EXISTS are settled by the caller */
		t_err(t, "%s at %#" PRIx64 ": %s\n", op, f->addr, strerror(-ret));
		return task_fail(t) ? -1 : LP_OP_GONE; /* killed: nothing left to serve */
	}
}

static int shm_fault(struct lp_task *t, const struct lp_range *r, struct lp_fault *f)
{
	struct lp_loop *l = t->loop;
	struct lp_shm *o = l->shms[lp_shm_tag_idx(r->tag)];
	uint64_t off = r->img + (f->addr - r->start), idx = off / PAGE_SIZE;
	bool minor = f->flags & UFFD_PAGEFAULT_FLAG_MINOR;
	bool first = idx < o->map.nr_pages && !(o->touched[idx / 64] & (1ULL << (idx % 64)));
	enum lp_page_state st = lp_pmap_get(&o->map, idx);
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
		ret = uffd_continue(t->ufd.fd, f->addr, PAGE_SIZE, 0, &done);
		enum uffd_outcome res = uffd_triage(ret);
		if (res == UFFD_OK || res == UFFD_EXISTS) {
			if (res == UFFD_EXISTS) {
				/* mapped already */
				l->st.eexist++;
				uffd_wake(t->ufd.fd, f->addr, PAGE_SIZE);
			} else {
				l->st.pages_continued++;
			}
			lp_pmap_set(&o->map, idx, 1, LP_PAGE_PRESENT);
			if (first)
				o->touched[idx / 64] |= 1ULL << (idx % 64);
			fault_served(t, f, minor, LP_WS_SHMEM, o->id, off, first);
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
		const struct lp_extent *e = lp_pages_find(o->pages, off);
		if (e && !e->zero) {
			const void *src;
			int64_t got = lp_pages_get_data(o->pages, off, 1, l->buf, &src);
			if (got <= 0) {
				t_err(t, "can't read page %#" PRIx64 " of %s: %s\n", off, o->pages->id,
				      strerror(got ? (int)-got : EIO));
				return task_fail(t);
			}
			ret = uffd_copy(t->ufd.fd, f->addr, src, PAGE_SIZE, 0, &done);
			if (!ret) {
				l->st.pages_copied++;
				l->st.bytes_copied += PAGE_SIZE;
			}
		} else {
			ret = uffd_zeropage(t->ufd.fd, f->addr, PAGE_SIZE, 0, &done);
			if (!ret)
				l->st.pages_zeroed++;
		}
	}
	if (uffd_triage(ret) == UFFD_EXISTS) {
		/* the page arrived in the page cache meanwhile: map it */
		l->st.eexist++;
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
		o->touched[idx / 64] |= 1ULL << (idx % 64);
	fault_served(t, f, false, LP_WS_SHMEM, o->id, off, first);
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

	switch (m->event) {
	case UFFD_EVENT_FORK: {
		int ufd = (int)m->arg.fork.ufd;
		struct lp_task *c = lp_task_new(l, 0, ufd, -1, t->pages);
		if (!c)
			return -1;
		c->parent = t;
		if (lp_rset_copy(&c->vmas, &t->vmas) || lp_rset_copy(&c->pending, &t->pending) ||
		    lp_rset_copy(&c->shm, &t->shm)) {
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
		if ((n = lp_rset_remap(&t->vmas, from, to, ALIGN_UP(len, PAGE_SIZE))) < 0 ||
		    (n = lp_rset_remap(&t->pending, from, to, ALIGN_UP(len, PAGE_SIZE))) < 0 ||
		    (n = lp_rset_remap(&t->shm, from, to, ALIGN_UP(len, PAGE_SIZE))) < 0) {
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
		if (n >= 0 && lp_rset_remove(&t->vmas, start, end) < 0)
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
				lp_loop_fault_seen(t->loop, t0);
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
