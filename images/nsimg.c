/* The namespace images, read and validated (see nsimg.h). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "images: "
#include "lib/log.h"
#include "lib/util.h"
#include "images/nsimg.h"

static int bad(void)
{
	errno = EBADMSG;
	return -1;
}

static const char *const kind_names[NS_KIND_MAX + 1] = {
	[NS_KIND_PID] = "pid", [NS_KIND_MNT] = "mnt",       [NS_KIND_NET] = "net", [NS_KIND_IPC] = "ipc",
	[NS_KIND_UTS] = "uts", [NS_KIND_CGROUP] = "cgroup", [NS_KIND_TIME] = "time",
};

const NsPidTask *img_ns_pid_task(const NsEntry *pidns, uint32_t pid)
{
	if (!pidns || !pidns->pid)
		return NULL;
	for (size_t i = 0; i < pidns->pid->n_tasks; i++)
		if (pidns->pid->tasks[i]->pid == pid)
			return pidns->pid->tasks[i];
	return NULL;
}

const SeccompThreadEntry *img_ns_seccomp_thread(const SeccompEntry *s, uint32_t tid)
{
	for (size_t i = 0; s && i < s->n_threads; i++)
		if (s->threads[i]->tid == tid)
			return s->threads[i];
	return NULL;
}

const SeccompChainEntry *img_ns_seccomp_chain(const SeccompEntry *s, uint32_t id)
{
	for (size_t i = 0; s && i < s->n_chains; i++)
		if (s->chains[i]->id == id)
			return s->chains[i];
	return NULL;
}

static int check_pidns(const NsEntry *e, const struct img_ns_task *tasks, size_t nr_tasks)
{
	const NsPidEntry *p = e->pid;

	if (!p || p->n_tasks != nr_tasks) {
		pr_err("ns.img: the pid namespace maps %zu tasks, pstree.img has %zu\n", p ? p->n_tasks : 0,
		       nr_tasks);
		return bad();
	}
	for (size_t i = 0; i < nr_tasks; i++) {
		const NsPidTask *t = img_ns_pid_task(e, tasks[i].pid);
		if (!t || t->n_ns_threads != tasks[i].nr_threads || !t->ns_pid || t->ns_threads[0] != t->ns_pid) {
			pr_err("ns.img: task %u is not mapped into the pid namespace, or its threads are not\n",
			       tasks[i].pid);
			return bad();
		}
		if ((i == 0) != (t->ns_pid == 1)) {
			pr_err("ns.img: task %u has pid %u in its namespace; the root, and only the root, must be 1\n",
			       tasks[i].pid, t->ns_pid);
			return bad();
		}
		for (size_t k = 0; k < t->n_ns_threads; k++) {
			if (!t->ns_threads[k] || t->ns_threads[k] > (1u << 22)) {
				pr_err("ns.img: task %u: thread id %u out of range\n", tasks[i].pid, t->ns_threads[k]);
				return bad();
			}
			for (size_t j = 0; j <= i; j++) {
				const NsPidTask *o = img_ns_pid_task(e, tasks[j].pid);
				for (size_t a = 0; a < o->n_ns_threads; a++)
					if ((j < i || a < k) && o->ns_threads[a] == t->ns_threads[k]) {
						pr_err("ns.img: id %u appears twice in the pid namespace\n",
						       t->ns_threads[k]);
						return bad();
					}
			}
		}
	}
	return 0;
}

static const MntEntry *mnt_by_id(const NsMntEntry *m, uint32_t id, size_t before)
{
	for (size_t i = 0; i < before && i < m->n_mounts; i++)
		if (m->mounts[i]->id == id)
			return m->mounts[i];
	return NULL;
}

static int check_mnt(const NsEntry *e)
{
	const NsMntEntry *m = e->mnt;

	if (!m || !m->n_mounts) {
		pr_err("ns.img: a mount namespace without mounts\n");
		return bad();
	}
	for (size_t i = 0; i < m->n_mounts; i++) {
		const MntEntry *me = m->mounts[i];
		if (!me->id || mnt_by_id(m, me->id, i)) {
			pr_err("ns.img: mount id %u is 0 or appears twice\n", me->id);
			return bad();
		}
		if (me->mountpoint[0] != '/' || strstr(me->mountpoint, "/../") || strlen(me->mountpoint) > 4095) {
			pr_err("ns.img: mount %u: bad mountpoint %s\n", me->id, me->mountpoint);
			return bad();
		}
		if ((i == 0) != (me->kind == MNT_KIND_ROOT) || (i == 0) != (me->parent_id == 0) ||
		    (i == 0 && strcmp(me->mountpoint, "/"))) {
			pr_err("ns.img: the root mount must come first, and only it may be the root\n");
			return bad();
		}
		if (i && !mnt_by_id(m, me->parent_id, i)) {
			pr_err("ns.img: mount %u (%s) comes before its parent %u\n", me->id, me->mountpoint,
			       me->parent_id);
			return bad();
		}
		switch (me->kind) {
		case MNT_KIND_ROOT:
		case MNT_KIND_NEW:
			break;
		case MNT_KIND_BIND: {
			const MntEntry *src = me->has_bind_of ? mnt_by_id(m, me->bind_of, m->n_mounts) : NULL;
			if (!src || src == me || src->kind == MNT_KIND_BIND || src->kind == MNT_KIND_EXTERNAL ||
			    src->dev != me->dev) {
				pr_err("ns.img: mount %u (%s) is a bind of no mount of its filesystem\n", me->id,
				       me->mountpoint);
				return bad();
			}
			break;
		}
		case MNT_KIND_EXTERNAL:
			if (!me->ext_key || !*me->ext_key) {
				pr_err("ns.img: external mount %u (%s) has no key\n", me->id, me->mountpoint);
				return bad();
			}
			break;
		default:
			pr_err("ns.img: mount %u has unknown kind %u\n", me->id, me->kind);
			return bad();
		}
	}
	return 0;
}

static const ShmemEntry *shmem_of(ShmemEntry *const *shmems, size_t nr, uint64_t id)
{
	for (size_t i = 0; i < nr; i++)
		if (shmems[i]->id == id)
			return shmems[i];
	return NULL;
}

static int check_ipc(const NsEntry *e, ShmemEntry *const *shmems, size_t nr_shmems)
{
	const NsIpcEntry *ipc = e->ipc;

	if (!ipc) {
		pr_err("ns.img: an ipc namespace without contents\n");
		return bad();
	}
	for (size_t i = 0; i < ipc->n_shms; i++) {
		const IpcShmEntry *s = ipc->shms[i];
		const ShmemEntry *se = shmem_of(shmems, nr_shmems, s->shmem_id);
		if (!se || se->kind != SHMEM_KIND_SYSV || se->size < s->size) {
			pr_err("ns.img: System V segment %u has no shmem object of its size\n", s->perm->id);
			return bad();
		}
		for (size_t k = 0; k < i; k++)
			if (ipc->shms[k]->perm->id == s->perm->id || ipc->shms[k]->shmem_id == s->shmem_id) {
				pr_err("ns.img: System V segment %u appears twice\n", s->perm->id);
				return bad();
			}
	}
	for (size_t i = 0; i < ipc->n_sems; i++)
		if (ipc->sems[i]->n_values < 1 || ipc->sems[i]->n_values > 32000) {
			pr_err("ns.img: semaphore set %u has %zu semaphores\n", ipc->sems[i]->perm->id,
			       ipc->sems[i]->n_values);
			return bad();
		}
	for (size_t i = 0; i < nr_shmems; i++)
		if (shmems[i]->kind == SHMEM_KIND_SYSV) {
			bool found = false;
			for (size_t k = 0; k < ipc->n_shms && !found; k++)
				found = ipc->shms[k]->shmem_id == shmems[i]->id;
			if (!found) {
				pr_err("shmem.img: System V object %" PRIu64 " is no segment of ns.img\n",
				       shmems[i]->id);
				return bad();
			}
		}
	return 0;
}

static int check_ns(NsEntry *const *kinds, const struct img_ns_task *tasks, size_t nr_tasks,
		    ShmemEntry *const *shmems, size_t nr_shmems)
{
	bool sysv = false;

	for (size_t i = 0; i < nr_shmems; i++)
		sysv |= shmems[i]->kind == SHMEM_KIND_SYSV;
	if (sysv && (!kinds[NS_KIND_IPC] || kinds[NS_KIND_IPC]->ext_key)) {
		pr_err("shmem.img: System V shared memory without an ipc namespace of the tree's own\n");
		return bad();
	}
	for (int k = 1; k <= NS_KIND_MAX; k++) {
		const NsEntry *e = kinds[k];
		if (!e || e->ext_key || (e->has_empty && e->empty))
			continue;
		switch (k) {
		case NS_KIND_PID:
			if (check_pidns(e, tasks, nr_tasks) < 0)
				return -1;
			break;
		case NS_KIND_MNT:
			if (check_mnt(e) < 0)
				return -1;
			break;
		case NS_KIND_IPC:
			if (check_ipc(e, shmems, nr_shmems) < 0)
				return -1;
			break;
		case NS_KIND_UTS:
		case NS_KIND_TIME:
		case NS_KIND_NET:
		case NS_KIND_CGROUP: {
			bool has = (k == NS_KIND_UTS && e->uts) || (k == NS_KIND_TIME && e->time) ||
				   (k == NS_KIND_NET && e->net) || (k == NS_KIND_CGROUP && e->cgroup);
			if (!has) {
				pr_err("ns.img: the %s namespace has no contents\n", kind_names[k]);
				return bad();
			}
			break;
		}
		}
	}
	if (kinds[NS_KIND_PID] && kinds[NS_KIND_PID]->ext_key) {
		pr_err("ns.img: an external pid namespace can't be restored: the tree must be its init\n");
		return bad();
	}
	return 0;
}

static int check_seccomp(const SeccompEntry *s, const struct img_ns_task *tasks, size_t nr_tasks)
{
	for (size_t i = 0; i < s->n_chains; i++) {
		const SeccompChainEntry *c = s->chains[i];
		if (img_ns_seccomp_chain(s, c->id) != c || !c->n_filters || c->n_filters > IMG_NS_MAX_FILTERS) {
			pr_err("seccomp.img: chain %u appears twice or has %zu filters\n", c->id, c->n_filters);
			return bad();
		}
		for (size_t k = 0; k < c->n_filters; k++) {
			size_t len = c->filters[k]->prog.len;
			if (!len || len % IMG_NS_BPF_INSN_SIZE || len / IMG_NS_BPF_INSN_SIZE > IMG_NS_MAX_BPF_INSNS) {
				pr_err("seccomp.img: chain %u, filter %zu: %zu bytes is no BPF program\n", c->id, k, len);
				return bad();
			}
		}
	}
	for (size_t i = 0; i < s->n_threads; i++) {
		const SeccompThreadEntry *t = s->threads[i];
		bool known = false;
		for (size_t k = 0; k < nr_tasks && !known; k++)
			for (size_t j = 0; j < tasks[k].nr_threads && !known; j++)
				known = tasks[k].threads[j] == t->tid;
		if (!known || img_ns_seccomp_thread(s, t->tid) != t) {
			pr_err("seccomp.img: thread %u is not in pstree.img, or appears twice\n", t->tid);
			return bad();
		}
		if ((t->mode != 1 && t->mode != 2) ||
		    (t->mode == 2 && (!t->has_chain || !img_ns_seccomp_chain(s, t->chain)))) {
			pr_err("seccomp.img: thread %u: mode %u without its filters\n", t->tid, t->mode);
			return bad();
		}
	}
	return 0;
}

int img_ns_load(int dfd, const struct img_ns_task *tasks, size_t nr_tasks, ShmemEntry *const *shmems,
		size_t nr_shmems, struct img_ns *ret)
{
	struct img_ns ns = { 0 };
	NsEntry *e;
	int r;

	{
		cleanup_img struct img *img = img_open(dfd, IMG_NS, O_RDONLY | IMG_OPT_MISSING_OK, 0);
		if (!img && errno != ENOENT)
			return -1;
		while (img && (r = img_read(img, (void **)&e)) > 0) {
			if (e->kind < 1 || e->kind > NS_KIND_MAX || ns.kinds[e->kind]) {
				pr_err("ns.img: namespace kind %u is unknown or appears twice\n", e->kind);
				img_free_msg(img, e);
				goto bad;
			}
			ns.kinds[e->kind] = e;
		}
		if (img && r < 0)
			goto err;
	}
	{
		cleanup_img struct img *img = img_open(dfd, IMG_SECCOMP, O_RDONLY | IMG_OPT_MISSING_OK, 0);
		if (!img && errno != ENOENT)
			goto err;
		if (img && img_read_one(img, (void **)&ns.seccomp) < 0)
			goto err;
	}
	if (check_ns(ns.kinds, tasks, nr_tasks, shmems, nr_shmems) < 0)
		goto err;
	if (ns.seccomp && check_seccomp(ns.seccomp, tasks, nr_tasks) < 0)
		goto err;
	*ret = ns;
	return 0;
bad:
	errno = EBADMSG;
err:
	img_ns_free(&ns);
	return -1;
}

void img_ns_free(struct img_ns *ns)
{
	for (int k = 0; k <= NS_KIND_MAX; k++)
		img_free_msg(NULL, ns->kinds[k]);
	img_free_msg(NULL, ns->seccomp);
	memset(ns, 0, sizeof(*ns));
}
