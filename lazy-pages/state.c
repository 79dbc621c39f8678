/* The lazy-pages daemon's state (see state.h): what the tasks record into it. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-pages: "
#include "lib/log.h"
#include "lib/proc-parse.h"
#include "lib/util.h"
#include "lazy-pages/state.h"

int lp_loop_find_shm(struct lp_loop *l, uint64_t id)
{
	for (unsigned i = 0; i < l->nr_shms; i++)
		if (l->shms[i]->id == id)
			return (int)i;
	return -1;
}

int lp_loop_add_shm(struct lp_loop *l, uint64_t id, uint64_t size, int fd, struct lp_pages *pages)
{
	int idx = lp_loop_find_shm(l, id);

	if (idx >= 0) {
		struct lp_shm *o = l->shms[idx];
		if (fd >= 0 && o->fd < 0)
			o->fd = fd;
		else if (fd >= 0)
			close(fd);
		return idx;
	}
	struct lp_shm *o = calloc(1, sizeof(*o));
	struct lp_shm **v = realloc(l->shms, (l->nr_shms + 1) * sizeof(*v));
	if (v)
		l->shms = v;
	uint64_t nr = ALIGN_UP(size, PAGE_SIZE) / PAGE_SIZE;
	if (!o || !v || lp_pmap_init(&o->map, nr) || !(o->touched = calloc(nr / 64 + 1, 8)) ||
	    !(o->hot = calloc(nr / 64 + 1, 8))) {
		pr_err("out of memory\n");
		if (o) {
			lp_pmap_fini(&o->map);
			free(o->touched);
		}
		free(o);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	o->id = id;
	o->size = size;
	o->fd = fd;
	o->pages = lp_pages_get(pages);
	for (size_t i = 0; i < pages->nr_ext; i++) {
		const struct lp_extent *e = &pages->ext[i];
		uint64_t first = e->addr / PAGE_SIZE;
		if (first >= nr)
			break;
		o->nr_total += lp_pmap_set_want(&o->map, first, MIN(e->nr, nr - first), true);
	}
	l->st.pages_total += o->nr_total;
	l->shms[l->nr_shms] = o;
	pr_info("shmem %" PRIu64 ": %" PRIu64 " bytes, %" PRIu64 " pages in the image, fd %d\n", id, size,
		o->nr_total, fd);
	return (int)l->nr_shms++;
}

int lp_loop_set_hot(struct lp_loop *l, const struct lp_ws_run *runs, size_t nr)
{
	free(l->hot);
	l->hot = NULL;
	l->nr_hot = l->hot_pos = 0;
	l->hot_off = 0;
	l->st.hot_pages = 0;
	if (!nr)
		return 0;
	l->hot = malloc(nr * sizeof(*runs));
	if (!l->hot) {
		pr_err("out of memory\n");
		return -1;
	}
	memcpy(l->hot, runs, nr * sizeof(*runs));
	l->nr_hot = nr;
	for (size_t i = 0; i < nr; i++)
		l->st.hot_pages += runs[i].nr;
	return 0;
}

void lp_loop_finish(struct lp_loop *l)
{
	if (!l->finished) {
		l->finished = true;
		l->st.t_finished_ns = now_ns();
		pr_info("restore finished\n");
	}
}

void lp_loop_unfollow(struct lp_loop *l)
{
	if (l->follow_cpu < 0)
		return;
	if (sched_setaffinity(0, sizeof(l->cpus), &l->cpus))
		pr_warn("can't give the loop thread its CPUs back: %s, ignoring\n", strerror(errno));
	l->follow_cpu = -1;
	l->follow_tid = 0;
}

/*
 * Serve faults from the faulting thread's CPU: a fault served from another CPU costs two
 * cross-CPU wakeups (the loop thread's and the task's), and in a VM whose idle vCPUs
 * halt each is an IPI and a VM exit (20-30 us here); on the task's own CPU a fault is
 * two context switches (a few us). The thread blocks in the fault, so the CPU is free.
 * Where it runs is looked up at most every LP_FOLLOW_NS (or when another thread faults).
 */
static void follow(struct lp_loop *l, pid_t tid, uint64_t t_ns)
{
	struct proc_stat ps;

	if (!l->follow || tid <= 0 || (tid == l->follow_tid && t_ns - l->follow_ns < LP_FOLLOW_NS))
		return;
	l->follow_tid = tid;
	l->follow_ns = t_ns;
	if (proc_parse_stat(tid, 0, &ps) || ps.processor < 0 || ps.processor >= CPU_SETSIZE ||
	    ps.processor == l->follow_cpu || !CPU_ISSET(ps.processor, &l->cpus))
		return;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(ps.processor, &one);
	if (sched_setaffinity(0, sizeof(one), &one) == 0) {
		pr_debug("serving faults from CPU %d (thread %d faults there)\n", ps.processor, (int)tid);
		l->follow_cpu = ps.processor;
		l->st.follows++;
	}
}

void lp_loop_fault_seen(struct lp_loop *l, uint64_t t_ns, pid_t tid)
{
	l->last_fault_ns = t_ns;
	follow(l, tid, t_ns);
	/* no prefetch job starts during a burst of faults, nor just after it */
	if (l->preload == LP_PRELOAD_IDLE || l->preload == LP_PRELOAD_DONE)
		lp_worker_hold(&l->wk, t_ns + l->busy_poll_ns + LP_BG_HOLD_NS);
}

void lp_loop_record(struct lp_loop *l, uint32_t kind, uint32_t flags, uint64_t id, uint64_t addr, uint64_t nr)
{
	if (!l->recording)
		return;
	if (l->nr_rec == l->cap_rec) {
		size_t cap = l->cap_rec ? 2 * l->cap_rec : 1024;
		struct lp_ws_run *v = realloc(l->rec, cap * sizeof(*v));
		if (!v) {
			pr_warn("out of memory recording the working set, ignoring\n");
			return;
		}
		l->rec = v;
		l->cap_rec = cap;
	}
	l->rec[l->nr_rec++] = (struct lp_ws_run){ kind, flags, id, addr, nr };
}

int lp_loop_followup(struct lp_loop *l, unsigned idx, uint64_t off, uint64_t len, unsigned skip_task,
		     uint64_t skip_addr, bool preload)
{
	if (l->nr_fu == l->cap_fu) {
		size_t cap = l->cap_fu ? 2 * l->cap_fu : 64;
		struct lp_followup *v = realloc(l->fu, cap * sizeof(*v));
		if (!v) {
			pr_err("out of memory\n");
			return -1;
		}
		l->fu = v;
		l->cap_fu = cap;
	}
	l->fu[l->nr_fu++] = (struct lp_followup){ idx, off, len, skip_task, skip_addr, preload, 0, 0 };
	return 0;
}

void lp_lat_add(struct lp_lat *lat, uint64_t ns)
{
	if (lat->nr == lat->cap) {
		if (lat->cap >= (4u << 20))
			return; /* enough samples */
		size_t cap = lat->cap ? 2 * lat->cap : 4096;
		uint32_t *v = realloc(lat->v, cap * sizeof(*v));
		if (!v)
			return;
		lat->v = v;
		lat->cap = cap;
	}
	lat->v[lat->nr++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}
