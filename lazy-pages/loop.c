/* The lazy-pages event loop: epoll over every uffd; prefetch planned for the worker. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-pages: "
#include "lib/log.h"
#include "lib/util.h"
#include "lazy-pages/loop.h"
#include "lazy-pages/stats.h"
#include "lazy-pages/watchdog.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static int worker_done(struct lp_fd *f)
{
	struct lp_loop *l = container_of(f, struct lp_loop, wk_done);
	return lp_task_harvest(l);
}

/* ---- loop ---- */

int lp_loop_init(struct lp_loop *l, int dfd, enum lp_prefetch mode)
{
	memset(l, 0, sizeof(*l));
	l->dfd = dfd;
	l->prefetch = mode;
	l->busy_poll_ns = LP_BUSY_POLL_US_DEFAULT * 1000ull;
	l->fa_max = LP_FA_MAX;
	l->follow = true;
	l->follow_cpu = -1;
	l->wk.efd = -1;
	if (sched_getaffinity(0, sizeof(l->cpus), &l->cpus)) {
		pr_perror("sched_getaffinity");
		return -1;
	}
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		pr_perror("epoll_create1");
		return -1;
	}
	l->buf = mmap(NULL, LP_CHUNK_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (l->buf == MAP_FAILED) {
		l->buf = NULL;
		pr_perror("can't allocate buffers");
		goto err;
	}
	if (lp_worker_init(&l->wk, &l->cpus))
		goto err;
	lp_worker_notify_below(&l->wk, LP_BG_QUEUE / 4);
	l->wk_done = (struct lp_fd){ l->wk.efd, worker_done, worker_done };
	if (lp_loop_add_fd(l, &l->wk_done))
		goto err;
	l->st.t_start_ns = now_ns();
	return 0;
err:
	if (l->buf)
		munmap(l->buf, LP_CHUNK_MAX);
	l->buf = NULL;
	lp_worker_fini(&l->wk);
	closep(&l->epfd);
	return -1;
}

static void task_release(struct lp_loop *l, struct lp_task *t)
{
	if (!lp_task_complete(t)) {
		/* Never close a uffd with pages pending: the task would read zeros. */
		pr_warn("task %u (pid %d) still has pages pending: killing it\n", t->id, (int)t->pid);
		if (lp_task_kill(t))
			pr_err("can't kill task %u (pid %d): it keeps its uffd open in the watchdog\n",
			       t->id, (int)t->pid);
	}
	if (t->in_epoll) {
		lp_loop_del_fd(l, &t->ufd);
		if (t->pfd.fd >= 0)
			lp_loop_del_fd(l, &t->pfd);
		t->in_epoll = false;
	}
	lp_task_free(t);
}

void lp_loop_fini(struct lp_loop *l)
{
	lp_loop_unfollow(l);
	/* no job may run on a uffd or an object once it is closed */
	lp_worker_fini(&l->wk);
	for (int pass = 0; pass < 2; pass++)
		for (struct lp_task *t = pass ? l->new_tasks : l->tasks; t; t = t->next)
			t->jobs = 0;
	while (l->new_tasks) {
		struct lp_task *t = l->new_tasks;
		l->new_tasks = t->next;
		task_release(l, t);
	}
	while (l->tasks) {
		struct lp_task *t = l->tasks;
		l->tasks = t->next;
		task_release(l, t);
	}
	for (unsigned i = 0; i < l->nr_shms; i++) {
		struct lp_shm *o = l->shms[i];
		closep(&o->fd);
		lp_pages_put(o->pages);
		lp_pmap_fini(&o->map);
		free(o->touched);
		free(o->hot);
		free(o);
	}
	free(l->shms);
	l->shms = NULL;
	l->nr_shms = 0;
	if (l->buf)
		munmap(l->buf, LP_CHUNK_MAX);
	l->buf = NULL;
	free(l->hot);
	l->hot = NULL;
	free(l->rec);
	l->rec = NULL;
	free(l->fu);
	l->fu = NULL;
	free(l->pl);
	l->pl = NULL;
	lp_stats_fini(&l->st);
	closep(&l->epfd);
}

int lp_loop_add_fd(struct lp_loop *l, struct lp_fd *f)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = f };

	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, f->fd, &ev)) {
		pr_perror("can't add fd %d to epoll", f->fd);
		return -1;
	}
	return 0;
}

void lp_loop_del_fd(struct lp_loop *l, struct lp_fd *f)
{
	if (f->fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, f->fd, NULL);
}

int lp_loop_add_task(struct lp_loop *l, struct lp_task *t)
{
	if (l->wd && lp_watchdog_add(l->wd, t->pid, t->pfd.fd, t->ufd.fd))
		return -1;
	if (lp_loop_add_fd(l, &t->ufd))
		return -1;
	if (t->pfd.fd >= 0 && lp_loop_add_fd(l, &t->pfd)) {
		lp_loop_del_fd(l, &t->ufd);
		return -1;
	}
	t->in_epoll = true;
	t->next = l->tasks;
	l->tasks = t;
	pr_info("task %u (pid %d): uffd %d, %" PRIu64 " private pages pending, %zu shmem mappings\n",
		t->id, (int)t->pid, t->ufd.fd, lp_rset_pages(&t->pending), t->shm.nr);
	return 0;
}

void lp_loop_kill_all(struct lp_loop *l)
{
	for (int pass = 0; pass < 2; pass++)
		for (struct lp_task *t = pass ? l->new_tasks : l->tasks; t; t = t->next) {
			if (t->exited)
				continue;
			if (lp_task_kill(t))
				pr_err("can't kill task %u (pid %d)\n", t->id, (int)t->pid);
		}
}

/* The pwrite of the working set's shmem pages (before the SYNC) is over. */
static bool hot_written(const struct lp_loop *l)
{
	for (unsigned i = 0; i < l->nr_shms; i++)
		if (l->shms[i]->map.nr_writing)
			return false;
	return true;
}

bool lp_loop_hot_ready(const struct lp_loop *l)
{
	if (!hot_written(l))
		return false;
	for (size_t i = l->hot_pos; i < l->nr_hot; i++) {
		const struct lp_ws_run *r = &l->hot[i];
		if (r->kind != LP_WS_SHMEM)
			continue;
		int idx = lp_loop_find_shm((struct lp_loop *)l, r->id);
		if (idx < 0 || l->shms[idx]->fd < 0)
			continue;
		const struct lp_pmap *m = &l->shms[idx]->map;
		uint64_t first = r->addr / PAGE_SIZE + (i == l->hot_pos ? l->hot_off / PAGE_SIZE : 0);
		for (uint64_t pg = first; pg < r->addr / PAGE_SIZE + r->nr; pg++)
			if (lp_pmap_wanted(m, pg) && lp_pmap_get(m, pg) != LP_PAGE_PRESENT)
				return false;
	}
	return true;
}

bool lp_loop_preloaded(const struct lp_loop *l)
{
	return l->preload == LP_PRELOAD_DONE;
}

/* Every page is in (jobs aside). */
static bool all_in(const struct lp_loop *l)
{
	for (const struct lp_task *t = l->tasks; t; t = t->next)
		if (!t->exited && !lp_task_complete(t))
			return false;
	for (unsigned i = 0; i < l->nr_shms; i++)
		if (l->shms[i]->map.nr_want)
			return false;
	return true;
}

bool lp_loop_done(const struct lp_loop *l)
{
	bool all_exited = true;

	if (!l->finished || l->new_tasks)
		return false;
	for (const struct lp_task *t = l->tasks; t; t = t->next)
		if (!t->exited)
			all_exited = false;
	if (all_exited)
		return !lp_worker_busy(&l->wk);
	return all_in(l) && !lp_worker_busy(&l->wk);
}

/* Adopt the tasks seen through FORK, now that the batch that announced them is done. */
static int complete_forks(struct lp_loop *l)
{
	while (l->new_tasks) {
		struct lp_task *t = l->new_tasks;
		l->new_tasks = t->next;
		if (lp_loop_add_task(l, t)) {
			/* can't serve it: it must not run on zeros */
			if (lp_task_kill(t))
				pr_err("can't kill forked task %u: pid unknown\n", t->id);
			lp_task_free(t);
			return -1;
		}
	}
	return 0;
}

static int reap_tasks(struct lp_loop *l)
{
	for (struct lp_task **pp = &l->tasks; *pp;) {
		struct lp_task *t = *pp;
		if (!t->exited) {
			pp = &t->next;
			continue;
		}
		if (lp_task_drain(t) < 0 || lp_task_quiesce(t) < 0)
			return -1;
		*pp = t->next;
		task_release(l, t);
	}
	return complete_forks(l);
}

/* ---- planning prefetch jobs ---- */

/* A task mapping object idx at offset off: its runtime address and how much of that
 * mapping (one VMA) follows, or NULL. */
static struct lp_task *shm_mapper(struct lp_loop *l, unsigned idx, uint64_t off, uint64_t *ret_addr,
				  uint64_t *ret_room)
{
	for (struct lp_task *t = l->tasks; t; t = t->next) {
		if (t->exited)
			continue;
		for (size_t i = 0; i < t->shm.nr; i++) {
			const struct lp_range *r = lp_rset_at(&t->shm, i);
			if (lp_shm_tag_idx(r->tag) != idx || off < r->img || off >= r->img + (r->end - r->start))
				continue;
			*ret_addr = r->start + (off - r->img);
			*ret_room = r->end - *ret_addr;
			return t;
		}
	}
	return NULL;
}

/* Room for one more job (background: at most LP_BG_QUEUE queued). */
static bool room(struct lp_loop *l, bool bg)
{
	return lp_worker_get(&l->wk) && (!bg || lp_worker_queued(&l->wk) < LP_BG_QUEUE);
}

static struct lp_task *task_by_id(struct lp_loop *l, unsigned id)
{
	for (struct lp_task *t = l->tasks; t; t = t->next)
		if (t->id == id)
			return t;
	return NULL;
}

/* A new job at the ring's head for t (NULL: an object's), or NULL if the ring is full. */
static struct lp_job *job_new(struct lp_loop *l, unsigned kind, struct lp_task *t, int fd, bool preload,
			      uint64_t arg)
{
	struct lp_job *j = lp_worker_get(&l->wk);

	if (!j)
		return NULL;
	j->kind = (uint8_t)kind;
	j->owner = t;
	j->fd = fd;
	j->preload = preload;
	j->arg = arg;
	return j;
}

/* Give a job back unsubmitted: its shmem pages are no longer queued. */
static void job_drop(struct lp_loop *l, struct lp_job *j)
{
	for (unsigned i = 0; j->kind == LP_JK_SHM_FILL && i < j->nseg; i++) {
		struct lp_shm *o = l->shms[j->arg];
		for (uint64_t k = j->seg[i].img / PAGE_SIZE; k < (j->seg[i].img + j->seg[i].len) / PAGE_SIZE;
		     k++)
			if (lp_pmap_get(&o->map, k) == LP_PAGE_QUEUED)
				lp_pmap_set(&o->map, k, 1, LP_PAGE_ABSENT);
	}
	lp_worker_unget(&l->wk, j);
}

/* Queue j (nothing if it is empty). 1 queued, 0 empty, -1 fatal. */
static int job_submit(struct lp_loop *l, struct lp_job *j)
{
	if (!j->nseg) {
		lp_worker_unget(&l->wk, j);
		return 0;
	}
	if (lp_worker_submit(&l->wk, j)) {
		job_drop(l, j);
		return -1;
	}
	if (j->owner)
		((struct lp_task *)j->owner)->jobs++;
	return 1;
}

/*
 * A segment of j for the first pending private pages of t in [from, to), at most max
 * bytes (preload: only pages still at their image address). 1 added, 0 nothing there;
 * *ret_next: where to look next. -1 fatal.
 */
static int anon_seg(struct lp_task *t, struct lp_job *j, uint64_t from, uint64_t to, uint64_t max,
		    bool preload, uint64_t *ret_next)
{
	struct lp_range r;

	*ret_next = to;
	if (t->exited || from >= to || !lp_rset_first_in(&t->pending, from, to, &r))
		return 0;
	*ret_next = r.end;
	if (preload && r.img != r.start)
		return 0; /* moved since the dump: not the working set's address any more */
	const struct lp_extent *e = lp_pages_find(t->pages, r.img);
	if (!e) {
		/* cannot happen: pending pages come from the extents */
		lp_rset_remove(&t->pending, r.start, r.start + PAGE_SIZE);
		*ret_next = r.start + PAGE_SIZE;
		return 0;
	}
	uint64_t n = MIN(r.end - r.start, e->addr + e->nr * PAGE_SIZE - r.img);
	n = MIN(n, max) / PAGE_SIZE;
	struct lp_seg *g = lp_job_seg(j);
	g->op = e->zero ? LP_JOB_ZERO : LP_JOB_COPY;
	if (!e->zero) {
		int64_t got = lp_seg_data(g, t->pages, r.img, n);
		if (got < 0)
			return -1;
		n = (uint64_t)got;
	}
	g->addr = r.start;
	g->len = n * PAGE_SIZE;
	g->img = r.img;
	j->bytes += g->len;
	*ret_next = r.start + g->len;
	return 1;
}

/* A job for the first pending private pages of t in [from, to) (one segment, at most
 * max bytes): 1 queued, 0 nothing there; *ret_next: where to look next. -1 fatal. */
static int plan_anon(struct lp_loop *l, struct lp_task *t, uint64_t from, uint64_t to, uint64_t max,
		     uint64_t *ret_next)
{
	struct lp_job *j = job_new(l, LP_JK_ANON, t, t->ufd.fd, false, 0);

	*ret_next = from;
	if (!j)
		return 0;
	int ret = anon_seg(t, j, from, to, max, false, ret_next);
	if (ret <= 0) {
		job_drop(l, j);
		return ret;
	}
	return job_submit(l, j);
}

/* Wanted pages of object o at page pg of the same kind (data, zero) in one extent and
 * in state st: how many (at most max), and *ret_zero. */
static uint64_t shm_run(struct lp_shm *o, uint64_t pg, uint64_t max, enum lp_page_state st, bool *ret_zero)
{
	const struct lp_extent *e = lp_pages_find(o->pages, pg * PAGE_SIZE);
	if (!e)
		return 0;
	*ret_zero = e->zero;
	max = MIN(max, (e->addr + e->nr * PAGE_SIZE) / PAGE_SIZE - pg);
	return lp_pmap_run(&o->map, pg, max, st);
}

/*
 * A segment of j (a fill through t's mapping at addr, room bytes of it) for the absent
 * pages of object idx from page pg on (at most max pages): 1 added, 0 none at pg (it is
 * not wanted any more: a hole), -1 fatal. *ret_n: pages looked at.
 */
static int shm_seg(struct lp_loop *l, struct lp_job *j, unsigned idx, uint64_t pg, uint64_t max,
		   uint64_t addr, uint64_t room_b, uint64_t *ret_n)
{
	struct lp_shm *o = l->shms[idx];
	bool zero;

	*ret_n = 1;
	uint64_t n = shm_run(o, pg, MIN(max, room_b / PAGE_SIZE), LP_PAGE_ABSENT, &zero);
	if (!n) {
		lp_pmap_set_want(&o->map, pg, 1, false); /* in no extent: a hole */
		return 0;
	}
	struct lp_seg *g = lp_job_seg(j);
	g->op = zero ? LP_JOB_ZERO : LP_JOB_COPY;
	if (!zero) {
		int64_t got = lp_seg_data(g, o->pages, pg * PAGE_SIZE, n);
		if (got < 0)
			return -1;
		n = (uint64_t)got;
	}
	g->addr = addr;
	g->len = n * PAGE_SIZE;
	g->img = pg * PAGE_SIZE;
	j->bytes += g->len;
	lp_pmap_set(&o->map, pg, n, LP_PAGE_QUEUED);
	*ret_n = n;
	return 1;
}

/*
 * A job for the absent pages of object idx from page pg on (at most max pages), through
 * the first mapping of them: 1 queued, 0 nothing to do at pg (no such page, or nobody
 * maps it: then it is not wanted any more), -1 fatal. *ret_next: the page after.
 */
static int plan_shm_fill(struct lp_loop *l, unsigned idx, uint64_t pg, uint64_t max, uint64_t *ret_next)
{
	struct lp_shm *o = l->shms[idx];
	uint64_t addr, room_b, n;

	*ret_next = pg + 1;
	if (!lp_pmap_wanted(&o->map, pg) || lp_pmap_get(&o->map, pg) != LP_PAGE_ABSENT)
		return 0;
	struct lp_task *t = shm_mapper(l, idx, pg * PAGE_SIZE, &addr, &room_b);
	if (!t) {
		/* nobody maps it and nothing else can reach it: nobody can ever read it */
		lp_pmap_set_want(&o->map, pg, 1, false);
		return 0;
	}
	struct lp_job *j = job_new(l, LP_JK_SHM_FILL, t, t->ufd.fd, false, idx);
	if (!j)
		return 0;
	int ret = shm_seg(l, j, idx, pg, max, addr, room_b, &n);
	*ret_next = pg + n;
	if (ret <= 0) {
		job_drop(l, j);
		return ret;
	}
	return job_submit(l, j);
}

/* The CONTINUEs of one follow-up: a job per mapping of its pages (but the one they came
 * in through), in the order of the task list; fu->pos counts the mappings done. 1 when
 * every job of it is queued, 0 when the ring is full, -1 fatal. (A task that joins or
 * leaves meanwhile may be missed, or get a CONTINUE twice: either costs a fault or an
 * EEXIST, nothing else.) */
static int plan_followup(struct lp_loop *l, struct lp_followup *fu, bool bg)
{
	uint64_t end = fu->off + fu->len;
	unsigned k = 0;

	for (struct lp_task *t = l->tasks; t; t = t->next) {
		if (t->exited)
			continue;
		for (size_t i = 0; i < t->shm.nr; i++) {
			const struct lp_range *r = lp_rset_at(&t->shm, i);
			uint64_t mlen = r->end - r->start;
			if (lp_shm_tag_idx(r->tag) != fu->shm_idx || fu->off >= r->img + mlen ||
			    end <= r->img)
				continue;
			if (k++ < fu->pos)
				continue;
			uint64_t a = MAX(fu->off, r->img) + fu->sub, b = MIN(end, r->img + mlen);
			uint64_t addr = r->start + (MAX(fu->off, r->img) - r->img);
			if (t->id == fu->skip_task && addr == fu->skip_addr)
				a = b;
			while (a < b) {
				if (!room(l, bg))
					return 0;
				struct lp_job *j = job_new(l, LP_JK_SHM_MAP, t, t->ufd.fd, fu->preload,
							   fu->shm_idx);
				struct lp_seg *g = lp_job_seg(j);
				g->op = LP_JOB_CONT;
				g->addr = r->start + (a - r->img);
				g->len = MIN(b - a, (uint64_t)LP_JOB_MAP);
				g->img = a;
				j->bytes = g->len;
				if (job_submit(l, j) < 0)
					return -1;
				a += g->len;
				fu->sub += g->len;
			}
			fu->pos++;
			fu->sub = 0;
		}
	}
	return 1;
}

/* Follow-ups first: they make pages already in the page cache usable. */
static int plan_followups(struct lp_loop *l, bool bg, bool *ret_planned)
{
	size_t i = 0;

	while (i < l->nr_fu) {
		size_t busy = lp_worker_busy(&l->wk);
		int ret = plan_followup(l, &l->fu[i], bg);
		if (ret < 0)
			return -1;
		*ret_planned |= lp_worker_busy(&l->wk) != busy;
		if (!ret)
			return 0;
		l->fu[i] = l->fu[--l->nr_fu];
	}
	return 0;
}

/* Before the SYNC: the working set's shmem pages into the objects we have an fd of. */
static int plan_hot_pwrite(struct lp_loop *l, bool *ret_planned)
{
	while (l->hot_pos < l->nr_hot && room(l, false)) {
		const struct lp_ws_run *r = &l->hot[l->hot_pos];
		int idx = r->kind == LP_WS_SHMEM ? lp_loop_find_shm(l, r->id) : -1;
		uint64_t pg = r->addr / PAGE_SIZE + l->hot_off / PAGE_SIZE, end = r->addr / PAGE_SIZE + r->nr;
		if (r->kind == LP_WS_SHMEM && idx < 0 && !l->finished)
			return 0; /* its object is not known yet */
		if (idx < 0 || l->shms[idx]->fd < 0 || pg >= end) {
			l->hot_pos++;
			l->hot_off = 0;
			continue;
		}
		struct lp_shm *o = l->shms[idx];
		bool zero;
		uint64_t n = shm_run(o, pg, MIN(end - pg, (uint64_t)LP_JOB_PRELOAD / PAGE_SIZE),
				     LP_PAGE_ABSENT, &zero);
		if (!n) {
			l->hot_off += PAGE_SIZE;
			continue;
		}
		struct lp_job *j = job_new(l, LP_JK_PWRITE, NULL, o->fd, false, (uint64_t)idx);
		struct lp_seg *g = lp_job_seg(j);
		g->op = LP_JOB_PWRITE;
		if (!zero) {
			int64_t got = lp_seg_data(g, o->pages, pg * PAGE_SIZE, n);
			if (got < 0) {
				lp_worker_unget(&l->wk, j);
				return -1;
			}
			n = (uint64_t)got;
		}
		g->addr = g->img = pg * PAGE_SIZE;
		g->len = n * PAGE_SIZE;
		j->bytes = g->len;
		lp_pmap_set(&o->map, pg, n, LP_PAGE_WRITING);
		if (job_submit(l, j) < 0) {
			lp_pmap_set(&o->map, pg, n, LP_PAGE_ABSENT);
			return -1;
		}
		*ret_planned = true;
		l->hot_off += n * PAGE_SIZE;
	}
	return 0;
}

/* A job is full: submit it. */
static bool job_full(const struct lp_job *j)
{
	return j->nseg == LP_JOB_SEGS || j->bytes >= LP_JOB_PRELOAD;
}

/* One item of the preload: the private runs of one page set into one task. 1 done,
 * 0 the ring is full, -1 fatal. */
static int preload_anon(struct lp_loop *l, const struct lp_pl_item *it, bool *ret_planned)
{
	struct lp_task *t = task_by_id(l, it->task);
	struct lp_job *j = NULL;

	if (!t || t->exited)
		return 1;
	while (l->pl_pos < it->end) {
		const struct lp_ws_run *r = &l->hot[l->pl_pos];
		uint64_t start = r->addr + l->pl_off, end = r->addr + r->nr * PAGE_SIZE, next;
		if (!j && !(j = job_new(l, LP_JK_ANON, t, t->ufd.fd, true, 0)))
			return 0;
		if (anon_seg(t, j, start, end, LP_JOB_PRELOAD, true, &next) < 0) {
			job_drop(l, j);
			return -1;
		}
		if (next >= end) {
			l->pl_pos++;
			l->pl_off = 0;
		} else {
			l->pl_off = next - r->addr;
		}
		if (job_full(j)) {
			if (job_submit(l, j) < 0)
				return -1;
			*ret_planned = true;
			j = NULL;
		}
	}
	if (j) {
		int ret = job_submit(l, j);
		if (ret < 0)
			return -1;
		*ret_planned |= ret;
	}
	return 1;
}

/* One item of the preload: the runs of one shmem object, into every mapping. 1 done,
 * 0 the ring is full, -1 fatal. */
static int preload_shm(struct lp_loop *l, const struct lp_pl_item *it, bool *ret_planned)
{
	struct lp_shm *o = l->shms[it->shm];
	struct lp_job *j = NULL;
	int ret;

	while (l->pl_pos < it->end) {
		const struct lp_ws_run *r = &l->hot[l->pl_pos];
		uint64_t pg = (r->addr + l->pl_off) / PAGE_SIZE,
			 epg = (r->addr + r->nr * PAGE_SIZE) / PAGE_SIZE, n = 1;
		uint64_t addr, room_b;
		struct lp_task *t;
		if (lp_pmap_get(&o->map, pg) == LP_PAGE_PRESENT) {
			/* written before the SYNC: map it everywhere */
			n = 1 + lp_pmap_run_state(&o->map, pg + 1, epg - pg - 1, LP_PAGE_PRESENT);
			if (lp_loop_followup(l, it->shm, pg * PAGE_SIZE, n * PAGE_SIZE, ~0u, 0, true))
				goto fail;
			for (uint64_t i = pg; i < pg + n; i++)
				lp_bit_set(o->hot, i);
			l->st.hot_in_place += n;
		} else if (!lp_pmap_wanted(&o->map, pg) || lp_pmap_get(&o->map, pg) != LP_PAGE_ABSENT) {
			/* a hole, or on its way already */
		} else if (!(t = shm_mapper(l, it->shm, pg * PAGE_SIZE, &addr, &room_b))) {
			lp_pmap_set_want(&o->map, pg, 1, false); /* nobody can ever read it */
		} else {
			if (j && j->owner != t) {
				if (job_submit(l, j) < 0)
					return -1;
				*ret_planned = true;
				j = NULL;
			}
			if (!j && !(j = job_new(l, LP_JK_SHM_FILL, t, t->ufd.fd, true, it->shm)))
				return 0;
			if (shm_seg(l, j, it->shm, pg, MIN(epg - pg, (uint64_t)LP_JOB_PRELOAD / PAGE_SIZE),
				    addr, room_b, &n) < 0)
				goto fail;
		}
		if (pg + n >= epg) {
			l->pl_pos++;
			l->pl_off = 0;
		} else {
			l->pl_off = (pg + n) * PAGE_SIZE - r->addr;
		}
		if (j && job_full(j)) {
			if (job_submit(l, j) < 0)
				return -1;
			*ret_planned = true;
			j = NULL;
		}
	}
	if (j) {
		ret = job_submit(l, j);
		if (ret < 0)
			return -1;
		*ret_planned |= ret;
	}
	return 1;
fail:
	if (j)
		job_drop(l, j);
	return -1;
}

/* The preload: every run of the working set into every task's page tables. */
static int plan_preload(struct lp_loop *l, bool *ret_planned)
{
	while (l->pl_item < l->nr_pl) {
		const struct lp_pl_item *it = &l->pl[l->pl_item];
		int ret;
		if (it->kind == LP_WS_SHMEM) {
			/* the shmem runs come after the private ones, and after the pwrite */
			l->preload = LP_PRELOAD_SHM;
			if (!hot_written(l))
				return 0;
			ret = preload_shm(l, it, ret_planned);
		} else {
			ret = preload_anon(l, it, ret_planned);
		}
		if (ret <= 0)
			return ret;
		if (++l->pl_item < l->nr_pl) {
			l->pl_pos = l->pl[l->pl_item].first;
			l->pl_off = 0;
		}
	}
	l->preload = LP_PRELOAD_DRAIN;
	return 0;
}

/* Background prefetch: private pages of every task, then the shmem objects, in address
 * order from where the last look ended. */
static int plan_background(struct lp_loop *l, bool *ret_planned)
{
	bool any = true;

	while (any && room(l, true)) {
		any = false;
		for (struct lp_task *t = l->tasks; t && room(l, true); t = t->next) {
			uint64_t next;
			if (t->exited || !t->pending.nr)
				continue;
			int ret = plan_anon(l, t, t->pf_next, UINT64_MAX, LP_JOB_BG, &next);
			if (ret < 0)
				return -1;
			if (ret) {
				t->pf_next = next;
				any = *ret_planned = true;
			} else if (!t->jobs) {
				t->pf_next = 0; /* from the start again: what is left was put back */
			}
		}
		for (unsigned i = 0; i < l->nr_shms && room(l, true); i++) {
			struct lp_shm *o = l->shms[i];
			if (!o->map.nr_want)
				continue;
			uint64_t pg = lp_pmap_next_wanted(&o->map, o->pf_next), next;
			while (pg < o->map.nr_pages && lp_pmap_get(&o->map, pg) != LP_PAGE_ABSENT)
				pg = lp_pmap_next_wanted(&o->map, pg + 1);
			if (pg >= o->map.nr_pages) {
				if (!lp_worker_pending(&l->wk))
					o->pf_next = 0;
				continue;
			}
			int ret = plan_shm_fill(l, i, pg, LP_JOB_BG / PAGE_SIZE, &next);
			if (ret < 0)
				return -1;
			o->pf_next = next;
			any = true; /* a page not wanted any more is progress too */
			*ret_planned |= ret;
		}
	}
	return 0;
}

/* Could plan() have anything to do? */
static bool may_plan(const struct lp_loop *l)
{
	if (l->nr_fu)
		return true;
	if (l->prefetch == LP_PREFETCH_HOT && l->preload == LP_PRELOAD_IDLE && !l->finished)
		return l->hot_pos < l->nr_hot;
	return l->finished && l->prefetch != LP_PREFETCH_NONE && !l->recording && !all_in(l);
}

/* Plan what may be planned now; *ret_planned: a job was queued. */
static int plan(struct lp_loop *l, bool *ret_planned)
{
	bool preloading = l->preload > LP_PRELOAD_IDLE && l->preload < LP_PRELOAD_DONE;
	bool bg = !preloading;

	*ret_planned = false;
	if (plan_followups(l, bg, ret_planned))
		return -1;
	if (l->prefetch == LP_PREFETCH_HOT && l->preload == LP_PRELOAD_IDLE && !l->finished)
		return plan_hot_pwrite(l, ret_planned);
	if (preloading) {
		if (l->preload < LP_PRELOAD_DRAIN && plan_preload(l, ret_planned))
			return -1;
		if (l->preload == LP_PRELOAD_DRAIN && !l->nr_fu && !lp_worker_busy(&l->wk)) {
			l->preload = LP_PRELOAD_DONE;
			l->st.t_preloaded_ns = now_ns();
			pr_info("the working set is in: %" PRIu64 " of %" PRIu64 " pages in %.1f ms\n",
				l->st.hot_in_place, l->st.hot_pages,
				(l->st.t_preloaded_ns - l->st.t_sync_ns) / 1e6);
		}
		return 0;
	}
	if (!l->finished || l->prefetch == LP_PREFETCH_NONE || l->recording)
		return 0;
	return plan_background(l, ret_planned);
}

/* The preload's items: each page set of the working set with its target (a task whose
 * pages come from that page set, or a shmem object), private ones first. 0 or -1. */
static int preload_items(struct lp_loop *l)
{
	free(l->pl);
	l->pl = NULL;
	l->nr_pl = 0;
	for (size_t i = 0; i < l->nr_hot;) {
		size_t e = i + 1;
		while (e < l->nr_hot && l->hot[e].kind == l->hot[i].kind && l->hot[e].id == l->hot[i].id)
			e++;
		for (struct lp_task *t = l->tasks; t || l->hot[i].kind == LP_WS_SHMEM;
		     t = t ? t->next : NULL) {
			struct lp_pl_item it = { l->hot[i].kind, 0, 0, i, e };
			if (l->hot[i].kind == LP_WS_SHMEM) {
				int idx = lp_loop_find_shm(l, l->hot[i].id);
				if (idx < 0)
					break;
				it.shm = (unsigned)idx;
			} else if (t->exited || lp_task_img_id(t) != l->hot[i].id) {
				continue;
			} else {
				it.task = t->id;
			}
			struct lp_pl_item *v = realloc(l->pl, (l->nr_pl + 1) * sizeof(*v));
			if (!v) {
				pr_err("out of memory\n");
				return -1;
			}
			l->pl = v;
			l->pl[l->nr_pl++] = it;
			if (l->hot[i].kind == LP_WS_SHMEM)
				break;
		}
		i = e;
	}
	return 0;
}

void lp_loop_sync(struct lp_loop *l)
{
	if (l->preload != LP_PRELOAD_IDLE)
		return;
	l->st.t_sync_ns = now_ns();
	if (l->prefetch != LP_PREFETCH_HOT || !l->nr_hot || preload_items(l) || !l->nr_pl) {
		l->preload = LP_PRELOAD_DONE;
		l->st.t_preloaded_ns = l->st.t_sync_ns;
		return;
	}
	/* both threads copy now, wherever there is a CPU */
	lp_loop_unfollow(l);
	l->preload = LP_PRELOAD_ANON;
	l->pl_item = 0;
	l->pl_pos = l->pl[0].first;
	l->pl_off = 0;
	pr_info("the restore waits: putting the working set in (%zu runs, %" PRIu64 " pages)\n", l->nr_hot,
		l->st.hot_pages);
}

/* ---- the loop ---- */

/* Tasks the loop waits for: their mm may be gone without a word (see lp_task_probe). */
static bool probe_wanted(const struct lp_loop *l)
{
	if (lp_loop_done(l))
		return false;
	for (const struct lp_task *t = l->tasks; t; t = t->next)
		if (!t->exited)
			return true;
	return false;
}

/* Probe every task when it is time; the interval doubles while nothing happens, and
 * falls back after a round with events (active: this round had some). */
static void probe_tasks(struct lp_loop *l, bool active)
{
	uint64_t now = now_ns();

	if (active || !l->probe_ms) {
		l->probe_ms = LP_PROBE_MIN_MS;
		l->probe_at_ns = MIN(l->probe_at_ns ? l->probe_at_ns : UINT64_MAX,
				     now + LP_PROBE_MIN_MS * 1000000ull);
	}
	if (now < l->probe_at_ns || !probe_wanted(l))
		return;
	for (struct lp_task *t = l->tasks; t; t = t->next)
		lp_task_probe(t);
	l->probe_ms = MIN(l->probe_ms * 2, (uint32_t)LP_PROBE_MAX_MS);
	l->probe_at_ns = now + l->probe_ms * 1000000ull;
}

static int retry_all(struct lp_loop *l, bool *ret_soon)
{
	*ret_soon = false;
	for (struct lp_task *t = l->tasks; t; t = t->next) {
		if (!t->nr_deferred)
			t->retry_soon = false;
		else if (lp_task_retry_deferred(t))
			return -1;
		if (t->nr_deferred && t->retry_soon)
			*ret_soon = true;
	}
	return 0;
}

static void loop_ended(struct lp_loop *l);

/* epoll_wait, but while the busy-poll window after the last fault is open a wait
 * that would sleep spins instead (see loop.h); in all no longer than timeout_ms. */
static int loop_wait(struct lp_loop *l, struct epoll_event *ev, int max, int timeout_ms)
{
	if (timeout_ms == 0 || !l->busy_poll_ns || !l->last_fault_ns)
		return epoll_wait(l->epfd, ev, max, timeout_ms);
	uint64_t t = now_ns(), until = l->last_fault_ns + l->busy_poll_ns;
	uint64_t deadline = timeout_ms > 0 ? t + (uint64_t)timeout_ms * 1000000 : UINT64_MAX;

	if (t < until)
		l->st.busy_polls++;
	for (until = MIN(until, deadline); t < until; t = now_ns()) {
		int n = epoll_wait(l->epfd, ev, max, 0);
		if (n != 0) {
			l->st.busy_poll_hits += n > 0;
			return n;
		}
		sched_yield();
	}
	if (deadline == UINT64_MAX)
		return epoll_wait(l->epfd, ev, max, -1);
	/* what is left of the timeout, rounded up */
	return epoll_wait(l->epfd, ev, max, t >= deadline ? 0 : (int)((deadline - t + 999999) / 1000000));
}

/* The worker at normal priority while the tasks wait for the preload (or before they
 * run at all), at SCHED_IDLE once they run. */
static int worker_priority(struct lp_loop *l)
{
	bool preloading = l->preload > LP_PRELOAD_IDLE && l->preload < LP_PRELOAD_DONE;
	return lp_worker_set_background(&l->wk, l->finished && !preloading);
}

int lp_loop_step(struct lp_loop *l, int timeout_ms)
{
	struct epoll_event ev[64];
	bool soon, planned = false;

	int n = loop_wait(l, ev, ARRAY_SIZE(ev), timeout_ms);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		pr_perror("epoll_wait");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct lp_fd *f = ev[i].data.ptr;
		int ret;
		if (f->fd < 0)
			continue;
		if (ev[i].events & EPOLLIN)
			ret = f->on_read(f);
		else
			ret = f->on_hup ? f->on_hup(f) : f->on_read(f);
		if (ret < 0)
			return -1;
	}
	probe_tasks(l, n > 0);
	if (complete_forks(l) || retry_all(l, &soon) || reap_tasks(l) || lp_task_harvest(l))
		return -1;
	if (worker_priority(l))
		return -1;
	bool preloading = l->preload > LP_PRELOAD_IDLE && l->preload < LP_PRELOAD_DONE;
	/* faults first: plan only when none came for a while (a burst is over; the worker
	 * holds off until then anyway), or while the tasks wait for the preload */
	l->held = !preloading && now_ns() < __atomic_load_n(&l->wk.hold_until, __ATOMIC_RELAXED);
	if ((n == 0 && !l->held) || preloading) {
		if (plan(l, &planned))
			return -1;
		if (preloading && lp_worker_run_one(&l->wk) && lp_task_harvest(l))
			return -1; /* nothing runs yet: this thread copies too */
		if (reap_tasks(l))
			return -1;
		l->idle = !planned;
	} else {
		/* planning waits for a round without faults, if there is anything to plan */
		l->idle = !may_plan(l);
	}
	if (all_in(l) && l->finished && lp_worker_busy(&l->wk) && !preloading) {
		/* every page is in: what is left (CONTINUEs) is not worth waiting for */
		lp_worker_quiesce(&l->wk, NULL);
		l->nr_fu = 0;
		if (lp_task_harvest(l))
			return -1;
	}
	if (l->on_idle && l->on_idle(l, l->on_idle_arg) < 0)
		return -1;
	l->retry = soon;
	if (!l->st.t_all_ns && lp_loop_done(l))
		loop_ended(l);
	return 0;
}

static void loop_ended(struct lp_loop *l)
{
	l->st.t_all_ns = now_ns();
	l->st.ended_by_exit = true;
	for (struct lp_task *t = l->tasks; t; t = t->next)
		if (!t->exited)
			l->st.ended_by_exit = false;
}

int lp_loop_timeout(const struct lp_loop *l)
{
	if (l->preload > LP_PRELOAD_IDLE && l->preload < LP_PRELOAD_DONE)
		return 0;
	if (l->retry || (!l->idle && l->held))
		return 1;
	if (!l->idle)
		return 0;
	if (probe_wanted(l)) {
		/* wake up for the next probe */
		uint64_t now = now_ns();
		return l->probe_at_ns <= now ? 0 : (int)((l->probe_at_ns - now + 999999) / 1000000);
	}
	return -1;
}

int lp_loop_run(struct lp_loop *l)
{
	while (!lp_loop_done(l)) {
		if (lp_loop_step(l, lp_loop_timeout(l)) < 0) {
			l->failed = true;
			return -1;
		}
	}
	if (!l->st.t_all_ns)
		loop_ended(l);
	pr_info("%s\n", l->st.ended_by_exit ? "every task exited" : "every page is in");
	return 0;
}
