/* The lazy-pages event loop: epoll over every uffd, prefetch, the shmem writer thread. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-pages: "
#include "lib/log.h"
#include "lib/util.h"
#include "lazy-pages/loop.h"
#include "lazy-pages/stats.h"
#include "lazy-pages/watchdog.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* ---- the writer thread: pwrite (or fallocate, for zero pages) into shmem objects ---- */

static void *writer_main(void *arg)
{
	struct lp_writer *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->ready && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		int fd = w->fd;
		uint64_t off = w->off, len = w->len;
		void *buf = w->buf;
		pthread_mutex_unlock(&w->mu);

		int err = 0;
		if (buf) {
			if (pwrite_all(fd, buf, len, off))
				err = errno;
		} else if (fallocate(fd, 0, off, len)) {
			err = errno;
		}
		uint64_t one = 1;
		pthread_mutex_lock(&w->mu);
		w->err = err;
		w->ready = false;
		if (write(w->done.fd, &one, sizeof(one)) != sizeof(one))
			w->err = errno ? errno : EIO;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int writer_done(struct lp_fd *f);

static int writer_start(struct lp_loop *l)
{
	struct lp_writer *w = &l->wr;

	if (w->started)
		return 0;
	int ret = pthread_create(&w->thr, NULL, writer_main, w);
	if (ret) {
		errno = ret;
		pr_perror("can't start the writer thread");
		return -1;
	}
	w->started = true;
	return 0;
}

static void writer_stop(struct lp_loop *l)
{
	struct lp_writer *w = &l->wr;

	if (!w->started)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thr, NULL);
	w->started = false;
}

/* Queue one job: nr pages of object idx at byte offset off, data at src (l->wr_buf or
 * the page source's own memory) or zero pages if src is NULL. */
static int writer_submit(struct lp_loop *l, unsigned idx, uint64_t off, uint64_t nr, const void *src)
{
	struct lp_writer *w = &l->wr;
	struct lp_shm *o = l->shms[idx];

	if (writer_start(l))
		return -1;
	lp_pmap_set(&o->map, off / PAGE_SIZE, nr, LP_PAGE_WRITING);
	pthread_mutex_lock(&w->mu);
	w->busy = true;
	w->ready = true;
	w->fd = o->fd;
	w->off = off;
	w->len = nr * PAGE_SIZE;
	w->shm_idx = idx;
	w->err = 0;
	w->buf = (void *)src; /* NULL: zero pages (fallocate) */
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pr_debug("shmem %" PRIu64 ": writing %" PRIu64 " pages at %#" PRIx64 "\n", o->id, nr, off);
	return 0;
}

static int writer_done(struct lp_fd *f)
{
	struct lp_loop *l = container_of(f, struct lp_loop, wr.done);
	struct lp_writer *w = &l->wr;
	uint64_t cnt;

	if (read(f->fd, &cnt, sizeof(cnt)) < 0) {
		if (errno == EAGAIN)
			return 0;
		pr_perror("can't read the writer's eventfd");
		return -1;
	}
	pthread_mutex_lock(&w->mu);
	int err = w->err;
	struct lp_shm *o = l->shms[w->shm_idx];
	uint64_t idx = w->off / PAGE_SIZE, nr = w->len / PAGE_SIZE;
	bool zero = !w->buf;
	w->busy = false;
	pthread_mutex_unlock(&w->mu);

	if (err) {
		lp_pmap_set(&o->map, idx, nr, LP_PAGE_ABSENT);
		pr_err("can't %s %" PRIu64 " pages at %#" PRIx64 " of shmem %" PRIu64 ": %s\n",
		       zero ? "allocate" : "write", nr, idx * PAGE_SIZE, o->id, strerror(err));
		return -1;
	}
	lp_pmap_set(&o->map, idx, nr, LP_PAGE_PRESENT);
	l->st.pages_prefetched += nr;
	if (zero)
		l->st.pages_zeroed += nr;
	else {
		l->st.pages_copied += nr;
		l->st.bytes_copied += nr * PAGE_SIZE;
	}
	return 1;
}

/* ---- loop ---- */

int lp_loop_init(struct lp_loop *l, int dfd, enum lp_prefetch mode)
{
	memset(l, 0, sizeof(*l));
	l->dfd = dfd;
	l->prefetch = mode;
	l->chunk = LP_CHUNK_MIN;
	l->busy_poll_ns = LP_BUSY_POLL_US_DEFAULT * 1000ull;
	l->wr.done.fd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		pr_perror("epoll_create1");
		return -1;
	}
	l->buf = mmap(NULL, LP_CHUNK_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	l->wr_buf = mmap(NULL, LP_CHUNK_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (l->buf == MAP_FAILED || l->wr_buf == MAP_FAILED) {
		pr_perror("can't allocate buffers");
		goto err;
	}
	pthread_mutex_init(&l->wr.mu, NULL);
	pthread_cond_init(&l->wr.cv, NULL);
	l->wr.done = (struct lp_fd){ eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), writer_done, writer_done };
	if (l->wr.done.fd < 0) {
		pr_perror("eventfd");
		goto err;
	}
	if (lp_loop_add_fd(l, &l->wr.done))
		goto err;
	l->st.t_start_ns = now_ns();
	return 0;
err:
	if (l->buf != MAP_FAILED && l->buf)
		munmap(l->buf, LP_CHUNK_MAX);
	if (l->wr_buf != MAP_FAILED && l->wr_buf)
		munmap(l->wr_buf, LP_CHUNK_MAX);
	l->buf = l->wr_buf = NULL;
	closep(&l->wr.done.fd);
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
	writer_stop(l);
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
		free(o);
	}
	free(l->shms);
	l->shms = NULL;
	l->nr_shms = 0;
	closep(&l->wr.done.fd);
	if (l->buf)
		munmap(l->buf, LP_CHUNK_MAX);
	if (l->wr_buf)
		munmap(l->wr_buf, LP_CHUNK_MAX);
	l->buf = l->wr_buf = NULL;
	pthread_mutex_destroy(&l->wr.mu);
	pthread_cond_destroy(&l->wr.cv);
	free(l->hot);
	l->hot = NULL;
	free(l->rec);
	l->rec = NULL;
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

bool lp_loop_hot_ready(const struct lp_loop *l)
{
	if (l->wr.busy)
		return false;
	for (size_t i = l->hot_pos_shm; i < l->nr_hot; i++) {
		const struct lp_ws_rec *r = &l->hot[i];
		if (r->kind != LP_WS_SHMEM)
			continue;
		int idx = lp_loop_find_shm((struct lp_loop *)l, r->id);
		if (idx >= 0 && l->shms[idx]->fd >= 0 &&
		    lp_pmap_wanted(&l->shms[idx]->map, r->addr / PAGE_SIZE))
			return false;
	}
	return true;
}

bool lp_loop_done(const struct lp_loop *l)
{
	bool all_exited = true, all_in = true;

	if (!l->finished || l->new_tasks)
		return false;
	for (const struct lp_task *t = l->tasks; t; t = t->next) {
		if (t->exited)
			continue;
		all_exited = false;
		if (!lp_task_complete(t))
			all_in = false;
	}
	if (all_exited)
		return true;
	if (!all_in || l->wr.busy)
		return false;
	for (unsigned i = 0; i < l->nr_shms; i++)
		if (l->shms[i]->map.nr_want)
			return false;
	return true;
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
		if (lp_task_drain(t) < 0)
			return -1;
		*pp = t->next;
		task_release(l, t);
	}
	return complete_forks(l);
}

/* ---- prefetch ---- */

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

/* nr wanted pages of object idx at off, of one kind (zero or data): how many. */
static uint64_t shm_run(struct lp_loop *l, struct lp_shm *o, uint64_t off, uint64_t max, bool *zero)
{
	const struct lp_extent *e = lp_pages_find(o->pages, off);
	if (!e)
		return 0;
	*zero = e->zero;
	max = MIN(max, (e->addr + e->nr * PAGE_SIZE - off) / PAGE_SIZE);
	(void)l;
	return lp_pmap_run(&o->map, off / PAGE_SIZE, max, LP_PAGE_ABSENT);
}

/* Fill object pages through a task's mapping (no fd): UFFDIO_COPY fills the page cache. */
static int shm_fill_mapped(struct lp_loop *l, unsigned idx, uint64_t off, uint64_t max)
{
	struct lp_shm *o = l->shms[idx];
	uint64_t addr, room;
	bool zero;
	int64_t done = 0;
	int ret;

	struct lp_task *t = shm_mapper(l, idx, off, &addr, &room);
	if (!t) {
		/* nobody maps it and we have no fd: nobody can ever read it */
		lp_pmap_set_want(&o->map, off / PAGE_SIZE, 1, false);
		return 1;
	}
	uint64_t nr = shm_run(l, o, off, MIN(max, room / PAGE_SIZE), &zero);
	if (!nr)
		return 0;
	if (!zero) {
		ret = lp_pages_read(o->pages, off, nr, l->buf);
		if (ret) {
			pr_err("can't read pages %#" PRIx64 "+%" PRIu64 " of %s: %s\n", off, nr,
			       o->pages->id, strerror(-ret));
			return -1;
		}
	}
	for (;;) {
		if (zero)
			ret = uffd_zeropage(t->ufd.fd, addr, nr * PAGE_SIZE, 0, &done);
		else
			ret = uffd_copy(t->ufd.fd, addr, l->buf, nr * PAGE_SIZE, 0, &done);
		/* the mapping may have split since (no event): halve before giving up on it */
		if (ret != -ENOENT || done >= (int64_t)PAGE_SIZE || nr == 1)
			break;
		l->st.enoent_retries++;
		nr /= 2;
	}
	uint64_t ok = done / PAGE_SIZE;
	lp_pmap_set(&o->map, off / PAGE_SIZE, ok, LP_PAGE_PRESENT);
	l->st.pages_prefetched += ok;
	if (zero)
		l->st.pages_zeroed += ok;
	else {
		l->st.pages_copied += ok;
		l->st.bytes_copied += ok * PAGE_SIZE;
	}
	switch (ret) {
	case 0:
		return 1;
	case -EEXIST:
		/* in the page cache already (or mapped there): it is in */
		l->st.eexist++;
		lp_pmap_set(&o->map, off / PAGE_SIZE + ok, 1, LP_PAGE_PRESENT);
		return 1;
	case -EAGAIN:
		l->st.eagain++;
		t->retry_soon = true;
		return ok ? 1 : 0;
	case -ENOENT:
		if (nr - ok > 1)
			return 1; /* some pages went in: retry the rest (in halves) */
		/* this very page is not mapped there any more (its UNMAP event may still be
		 * queued): forget that page of the mapping, only */
		lp_rset_remove(&t->shm, addr + ok * PAGE_SIZE, addr + (ok + 1) * PAGE_SIZE);
		return 1;
	case -ESRCH:
	case -ENOSPC:
		lp_task_exited(t, "exited");
		return 1;
	default:
		pr_err("task %u: filling shmem %" PRIu64 " at %#" PRIx64 ": %s\n", t->id, o->id, off,
		       strerror(-ret));
		return -1;
	}
}

/* Hand nr pages of object idx at off to the writer: 1, or -1 (fatal). */
static int shm_submit(struct lp_loop *l, unsigned idx, uint64_t off, uint64_t nr, bool zero)
{
	struct lp_shm *o = l->shms[idx];
	const void *src = NULL;

	if (!zero) {
		int64_t got = lp_pages_get_data(o->pages, off, nr, l->wr_buf, &src);
		if (got <= 0) {
			pr_err("can't read pages %#" PRIx64 "+%" PRIu64 " of %s: %s\n", off, nr, o->pages->id,
			       strerror(got ? (int)-got : EIO));
			return -1;
		}
		nr = MIN(nr, (uint64_t)got);
	}
	return writer_submit(l, idx, off, nr, src) ? -1 : 1;
}

/* A hot record the shmem prefetcher can forget: not shmem, in, or of an object that
 * will never come (the restore has finished sending them). */
static bool hot_shm_settled(struct lp_loop *l, const struct lp_ws_rec *r)
{
	if (r->kind != LP_WS_SHMEM)
		return true;
	int idx = lp_loop_find_shm(l, r->id);
	if (idx < 0)
		return l->finished;
	const struct lp_shm *o = l->shms[idx];
	return !lp_pmap_wanted(&o->map, r->addr / PAGE_SIZE);
}

/* One shmem step from the hot list (hot_only) or in object order. 1 if work was done
 * or queued, 0 if nothing to do, -1 fatal. */
static int shm_step(struct lp_loop *l, bool hot_only, bool fd_only)
{
	uint64_t max = l->chunk / PAGE_SIZE;
	bool zero;

	if (l->prefetch == LP_PREFETCH_HOT) {
		/* records at the head that are settled need no more looks */
		while (l->hot_pos_shm < l->nr_hot && hot_shm_settled(l, &l->hot[l->hot_pos_shm]))
			l->hot_pos_shm++;
		for (size_t i = l->hot_pos_shm; i < l->nr_hot; i++) {
			const struct lp_ws_rec *r = &l->hot[i];
			int idx = r->kind == LP_WS_SHMEM ? lp_loop_find_shm(l, r->id) : -1;
			if (idx < 0)
				continue; /* not a shmem page, or its object is not known yet */
			struct lp_shm *o = l->shms[idx];
			uint64_t pg = r->addr / PAGE_SIZE;
			if (!lp_pmap_wanted(&o->map, pg) || lp_pmap_get(&o->map, pg) != LP_PAGE_ABSENT)
				continue;
			if (o->fd < 0) {
				if (fd_only)
					continue;
				int ret = shm_fill_mapped(l, idx, pg * PAGE_SIZE, 1);
				if (ret)
					return ret;
				continue;
			}
			if (l->wr.busy)
				return 0;
			/* coalesce consecutive hot pages of one kind */
			uint64_t nr = shm_run(l, o, pg * PAGE_SIZE, 1, &zero), n2 = nr;
			while (nr && n2 < max && i + n2 < l->nr_hot) {
				const struct lp_ws_rec *q = &l->hot[i + n2];
				bool z2;
				if (q->kind != LP_WS_SHMEM || q->id != r->id ||
				    q->addr != r->addr + n2 * PAGE_SIZE ||
				    shm_run(l, o, q->addr, 1, &z2) != 1 || z2 != zero)
					break;
				n2++;
			}
			if (!nr)
				continue;
			return shm_submit(l, idx, pg * PAGE_SIZE, n2, zero);
		}
	}
	if (hot_only)
		return 0;
	for (unsigned i = 0; i < l->nr_shms; i++) {
		struct lp_shm *o = l->shms[i];
		if (!o->map.nr_want || (fd_only && o->fd < 0) || (!fd_only && o->fd >= 0))
			continue;
		for (uint64_t pg = lp_pmap_next_wanted(&o->map, 0); pg < o->map.nr_pages;
		     pg = lp_pmap_next_wanted(&o->map, pg + 1)) {
			if (lp_pmap_get(&o->map, pg) != LP_PAGE_ABSENT)
				continue;
			if (o->fd < 0)
				return shm_fill_mapped(l, i, pg * PAGE_SIZE, max);
			if (l->wr.busy)
				return 0;
			uint64_t nr = shm_run(l, o, pg * PAGE_SIZE, max, &zero);
			if (!nr) {
				lp_pmap_set_want(&o->map, pg, 1, false);
				continue;
			}
			return shm_submit(l, i, pg * PAGE_SIZE, nr, zero);
		}
	}
	return 0;
}

/* Private pages of the hot list, then of every task in address order. */
static int anon_step(struct lp_loop *l)
{
	if (l->prefetch == LP_PREFETCH_HOT) {
		for (; l->hot_pos_anon < l->nr_hot; l->hot_pos_anon++) {
			const struct lp_ws_rec *r = &l->hot[l->hot_pos_anon];
			bool did = false;
			if (r->kind != LP_WS_ANON)
				continue;
			for (struct lp_task *t = l->tasks; t; t = t->next) {
				uint64_t id = 0;
				if (t->exited || parse_u64(t->pages->id, 10, &id) || id != r->id)
					continue;
				/* the runtime address is the image address unless remapped */
				const struct lp_range *p = lp_rset_find(&t->pending, r->addr);
				if (!p || p->img + (r->addr - p->start) != r->addr)
					continue;
				int64_t n = lp_task_fill(t, r->addr, PAGE_SIZE, l->buf, false);
				if (n < 0)
					return -1;
				did = true;
			}
			if (did) {
				l->hot_pos_anon++;
				return 1;
			}
		}
	}
	for (struct lp_task *t = l->tasks; t; t = t->next) {
		if (t->exited || !t->pending.nr)
			continue;
		int64_t n = lp_task_fill(t, lp_rset_first(&t->pending)->start, l->chunk, l->buf, false);
		if (n < 0)
			return -1;
		return 1;
	}
	return 0;
}

/* 1 if something was done, 0 if there is nothing to prefetch now, -1 fatal. */
static int prefetch_step(struct lp_loop *l)
{
	int ret = 0, r;

	if (l->prefetch == LP_PREFETCH_NONE)
		return 0;
	/* before the tasks run: only the hot shmem pages, through the objects' fds */
	r = shm_step(l, !l->finished || l->prefetch == LP_PREFETCH_NONE, true);
	if (r < 0)
		return -1;
	ret |= r;
	if (l->finished) {
		r = shm_step(l, false, false);
		if (r < 0)
			return -1;
		ret |= r;
		r = anon_step(l);
		if (r < 0)
			return -1;
		ret |= r;
	}
	if (ret && l->chunk < LP_CHUNK_MAX)
		l->chunk *= 2;
	return ret;
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

int lp_loop_step(struct lp_loop *l, int timeout_ms)
{
	struct epoll_event ev[64];
	bool soon;

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
	if (complete_forks(l) || retry_all(l, &soon) || reap_tasks(l))
		return -1;
	if (n == 0) {
		int ret = prefetch_step(l);
		if (ret < 0)
			return -1;
		l->idle = !ret;
		if (reap_tasks(l))
			return -1;
	} else {
		l->idle = false;
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
	if (l->retry)
		return 1;
	if (!l->idle && l->prefetch != LP_PREFETCH_NONE)
		return 0;
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

